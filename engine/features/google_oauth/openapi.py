"""Where the Google sign-in routes appear in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.auth import ANONYMOUS, AUTH_TAGS, redirect
from engine.features.openapi.problems import problems


def google_paths(document: dict[str, Any]) -> None:
    document["paths"]["/auth/google/login"] = {
        "get": {
            "operationId": "auth_google_login",
            "tags": AUTH_TAGS,
            "summary": "Start Google sign-in: redirects to Google (state, nonce and PKCE kept in the session)",
            "security": ANONYMOUS,
            "parameters": [
                {
                    "name": "next",
                    "in": "query",
                    "required": False,
                    "description": "Where to go once signed in: a path on this site (anything else is ignored; "
                    "without it, ENGINE_LOGIN_REDIRECT).",
                    "schema": {"type": "string", "pattern": "^/"},
                }
            ],
            "responses": {
                "302": redirect("To the provider's authorization page."),
                **problems("BadRequest", "NotFound"),  # 400: a Host not in ENGINE_GOOGLE_ALLOWED_HOSTS
            },
        }
    }
    document["paths"]["/auth/google/callback"] = {
        "get": {
            "operationId": "auth_google_callback",
            "tags": AUTH_TAGS,
            "summary": "Where Google sends the browser back: signs in and redirects to `next` or ENGINE_LOGIN_REDIRECT",
            "security": ANONYMOUS,
            "parameters": [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in ("code", "state", "error")
            ],
            "responses": {
                "302": redirect("Signed in: a new session cookie, then ENGINE_LOGIN_REDIRECT."),
                **problems("BadRequest", "NotFound"),
            },
        }
    }
