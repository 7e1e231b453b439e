"""Where the token routes appear in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.auth import ANONYMOUS, AUTH_TAGS, REFRESH_BODY, TOKEN_RESPONSE, json_body
from engine.features.openapi.problems import problems


def token_paths(document: dict[str, Any]) -> None:
    document["components"]["schemas"]["TokenResponse"] = TOKEN_RESPONSE
    tokens = json_body("A new access token and refresh token.", {"$ref": "#/components/schemas/TokenResponse"})
    body = {"required": True, "content": {"application/json": {"schema": REFRESH_BODY}}}
    document["paths"]["/auth/token"] = {
        "post": {
            "operationId": "auth_token",
            "tags": AUTH_TAGS,
            "summary": "Exchange the signed-in browser session for an access and a refresh token",
            "security": [{"sessionCookie": []}],
            "responses": {"200": tokens, **problems("Unauthorized", "Forbidden")},
        }
    }
    document["paths"]["/auth/refresh"] = {
        "post": {
            "operationId": "auth_refresh",
            "tags": AUTH_TAGS,
            "summary": "Spend a refresh token for a new pair (reusing a spent one revokes its whole sign-in)",
            "security": ANONYMOUS,
            "requestBody": body,
            "responses": {"200": tokens, **problems("Unauthorized", "ValidationFailed")},
        }
    }
    document["paths"]["/auth/logout"] = {
        "post": {
            "operationId": "auth_logout",
            "tags": AUTH_TAGS,
            "summary": "Revoke the refresh token's sign-in and end the browser session (on the server too)",
            "security": ANONYMOUS,
            "parameters": [
                {
                    "name": "all",
                    "in": "query",
                    "required": False,
                    "description": "true: sign out everywhere (every session and refresh-token family of the "
                    "caller, or of the refresh token's user); refused (403) to an API key",
                    "schema": {"type": "boolean", "default": False},
                }
            ],
            "requestBody": {**body, "required": False},
            "responses": {
                "204": {"description": "Signed out."},
                **problems("BadRequest", "Forbidden", "ValidationFailed"),
            },
        }
    }
