"""OpenAPI descriptions of the auth routes, one function per plugin (called from its
`register_openapi` hook, so a disabled plugin's routes disappear from the document too)."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.problems import problems
from engine.features.sessions.store import COOKIE_NAME, CSRF_HEADER

ANONYMOUS: list[dict[str, Any]] = [{}]
TAGS = ["auth"]


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": schema} if schema else {}
    return {"description": description, "content": {"application/json": content}}


def _redirect(description: str) -> dict[str, Any]:
    return {"description": description, "headers": {"Location": {"schema": {"type": "string"}}}}


TOKEN_RESPONSE = {
    "type": "object",
    "required": ["access_token", "refresh_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string", "description": "A JWT for `Authorization: Bearer`."},
        "refresh_token": {"type": "string", "description": "Opaque; spend it once at POST /auth/refresh."},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "description": "Seconds until the access token expires."},
    },
}
REFRESH_BODY = {
    "type": "object",
    "required": ["refresh_token"],
    "properties": {"refresh_token": {"type": "string"}},
}


def session_paths(document: dict[str, Any]) -> None:
    document["components"]["securitySchemes"]["sessionCookie"] = {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE_NAME,
        "description": f"The browser session from Google sign-in. Unsafe methods also need the `{CSRF_HEADER}` "
        "header with the token from GET /auth/csrf.",
    }
    document["paths"]["/auth/csrf"] = {
        "get": {
            "operationId": "auth_csrf",
            "tags": TAGS,
            "summary": f"The session's CSRF token, for the {CSRF_HEADER} header of cookie requests",
            "security": ANONYMOUS,
            "responses": {
                "200": _json(
                    "The token.",
                    {"type": "object", "properties": {"csrf_token": {"type": "string"}}, "required": ["csrf_token"]},
                ),
                **problems(),
            },
        }
    }


def token_paths(document: dict[str, Any]) -> None:
    document["components"]["schemas"]["TokenResponse"] = TOKEN_RESPONSE
    tokens = _json("A new access token and refresh token.", {"$ref": "#/components/schemas/TokenResponse"})
    body = {"required": True, "content": {"application/json": {"schema": REFRESH_BODY}}}
    document["paths"]["/auth/token"] = {
        "post": {
            "operationId": "auth_token",
            "tags": TAGS,
            "summary": "Exchange the signed-in browser session for an access and a refresh token",
            "security": [{"sessionCookie": []}],
            "responses": {"200": tokens, **problems("Unauthorized", "Forbidden")},
        }
    }
    document["paths"]["/auth/refresh"] = {
        "post": {
            "operationId": "auth_refresh",
            "tags": TAGS,
            "summary": "Spend a refresh token for a new pair (reusing a spent one revokes its whole sign-in)",
            "security": ANONYMOUS,
            "requestBody": body,
            "responses": {"200": tokens, **problems("Unauthorized", "ValidationFailed")},
        }
    }
    document["paths"]["/auth/logout"] = {
        "post": {
            "operationId": "auth_logout",
            "tags": TAGS,
            "summary": "Revoke the refresh token's sign-in and end the browser session",
            "security": ANONYMOUS,
            "requestBody": {**body, "required": False},
            "responses": {"204": {"description": "Signed out."}, **problems("Forbidden", "ValidationFailed")},
        }
    }


def google_paths(document: dict[str, Any]) -> None:
    document["paths"]["/auth/google/login"] = {
        "get": {
            "operationId": "auth_google_login",
            "tags": TAGS,
            "summary": "Start Google sign-in: redirects to Google (state, nonce and PKCE kept in the session)",
            "security": ANONYMOUS,
            "responses": {"302": _redirect("To the provider's authorization page."), **problems("NotFound")},
        }
    }
    document["paths"]["/auth/google/callback"] = {
        "get": {
            "operationId": "auth_google_callback",
            "tags": TAGS,
            "summary": "Where Google sends the browser back: signs in and redirects to ENGINE_LOGIN_REDIRECT",
            "security": ANONYMOUS,
            "parameters": [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in ("code", "state", "error")
            ],
            "responses": {
                "302": _redirect("Signed in: a new session cookie, then ENGINE_LOGIN_REDIRECT."),
                **problems("BadRequest", "NotFound"),
            },
        }
    }


def me_paths(document: dict[str, Any]) -> None:
    schema = {"$ref": "#/components/schemas/Users"} if "Users" in document["components"]["schemas"] else {}
    document["paths"]["/api/me"] = {
        "get": {
            "operationId": "me",
            "tags": ["users"],
            "summary": "The signed-in caller's own users row",
            "responses": {
                "200": _json("Your row.", {"type": "object", "properties": {"data": schema}}),
                **problems("Unauthorized", "NotFound"),
            },
        }
    }
