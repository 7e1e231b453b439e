"""Where the session routes appear in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.auth import ANONYMOUS, AUTH_TAGS, json_body
from engine.features.openapi.problems import problems
from engine.features.sessions.store import COOKIE_NAME, CSRF_HEADER


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
            "tags": AUTH_TAGS,
            "summary": f"The session's CSRF token, for the {CSRF_HEADER} header of cookie requests",
            "security": ANONYMOUS,
            "responses": {
                "200": json_body(
                    "The token.",
                    {"type": "object", "properties": {"csrf_token": {"type": "string"}}, "required": ["csrf_token"]},
                ),
                **problems(),
            },
        }
    }
