"""Where the API-key routes and the key's security scheme appear in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from engine.features.api_keys.requests import API_KEY_HEADER, CREATE_BODY
from engine.features.openapi.auth import AUTH_TAGS, json_body
from engine.features.openapi.problems import BODY_PROBLEMS, problems

_STAMP = {"type": ["string", "null"], "format": "date-time"}
API_KEY = {
    "type": "object",
    "required": ["id", "user_id", "name", "prefix", "scopes", "roles", "created_at", "last_used_at", "expires_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "user_id": {"type": "string"},
        "name": {"type": "string"},
        "prefix": {"type": "string", "description": "The key's first characters, to tell keys apart."},
        "scopes": {"type": "array", "items": {"type": "string"}},
        "roles": {"type": "array", "items": {"type": "string"}},
        "created_at": {"type": "string", "format": "date-time"},
        "last_used_at": {**_STAMP, "description": "To the minute."},
        "expires_at": _STAMP,
    },
}
CREATED = {
    "allOf": [
        {"$ref": "#/components/schemas/ApiKey"},
        {
            "type": "object",
            "required": ["key"],
            "properties": {"key": {"type": "string", "description": "The secret: shown this once, never again."}},
        },
    ]
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


def _data(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return json_body(description, {"type": "object", "required": ["data"], "properties": {"data": schema}})


def api_key_paths(document: dict[str, Any]) -> None:
    components = document["components"]
    components["securitySchemes"]["apiKey"] = {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": "An API key from POST /api/me/api-keys; also accepted as `Authorization: Bearer rek_...`.",
    }
    components["schemas"]["ApiKey"] = API_KEY
    listing = _data(
        "The keys (never their secrets).", {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}}
    )
    paths = document["paths"]
    paths["/api/me/api-keys"] = {
        "post": {
            "operationId": "api_keys_create",
            "tags": AUTH_TAGS,
            "summary": "Create an API key for yourself (the secret is in this response only)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": CREATE_BODY}}},
            "responses": {
                "201": _data("The key, with its secret.", CREATED),
                **problems("Unauthorized", "Forbidden", *BODY_PROBLEMS),
            },
        },
        "get": {
            "operationId": "api_keys_list",
            "tags": AUTH_TAGS,
            "summary": "Your API keys",
            "responses": {"200": listing, **problems("Unauthorized", "Forbidden")},
        },
    }
    paths["/api/me/api-keys/{id}"] = {
        "delete": {
            "operationId": "api_keys_delete",
            "tags": AUTH_TAGS,
            "summary": "Revoke one of your API keys (refused at its next request, on every worker)",
            "parameters": [_ID],
            "responses": {"204": {"description": "Revoked."}, **problems("Unauthorized", "Forbidden", "NotFound")},
        }
    }
    paths["/api/api-keys"] = {
        "get": {
            "operationId": "api_keys_list_all",
            "tags": AUTH_TAGS,
            "summary": "Admins: every user's API keys, or one user's",
            "parameters": [{"name": "user_id", "in": "query", "required": False, "schema": {"type": "string"}}],
            "responses": {"200": listing, **problems("BadRequest", "Unauthorized", "Forbidden")},
        }
    }
    paths["/api/api-keys/{id}"] = {
        "delete": {
            "operationId": "api_keys_delete_any",
            "tags": AUTH_TAGS,
            "summary": "Admins: revoke any user's API key",
            "parameters": [_ID],
            "responses": {"204": {"description": "Revoked."}, **problems("Unauthorized", "Forbidden", "NotFound")},
        }
    }
