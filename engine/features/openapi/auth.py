"""Pieces the sign-in features share when they describe their routes (sessions, tokens, Google, me)."""

from __future__ import annotations

from typing import Any

ANONYMOUS: list[dict[str, Any]] = [{}]
AUTH_TAGS = ["auth"]


def json_body(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": schema} if schema else {}
    return {"description": description, "content": {"application/json": content}}


def redirect(description: str) -> dict[str, Any]:
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
