"""Where the versions routes of resources with `history:` appear in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.contrib import problem_response
from engine.features.openapi.parameters import id_parameter
from engine.features.openapi.problems import problems
from engine.features.openapi.schemas import component_name, ref
from engine.spec import Spec

JSON = "application/json"


def _version(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["version", "action", "at", "actor", "data"],
        "properties": {
            "version": {"type": "integer", "minimum": 1, "description": "1 for the create, one more per change."},
            "action": {"enum": ["created", "updated", "deleted"]},
            "at": {"type": "string", "format": "date-time"},
            "actor": {"type": ["string", "null"], "description": "The user id that made the change."},
            "data": {
                "description": "The row as this version left it (null for a deletion); fields you may not "
                "read on the row, and secrets, are absent.",
                "anyOf": [row, {"type": "null"}],
            },
        },
    }


def _number() -> dict[str, Any]:
    return {"name": "version", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def history_paths(document: dict[str, Any], spec: Spec, *, page_size: int, max_page_size: int) -> None:
    for resource in spec.resources.values():
        if resource.history is None:
            continue
        base = f"/api/{resource.name}/{{id}}/versions"
        name = component_name(resource)
        version = _version(ref(name))
        page = {
            "type": "object",
            "required": ["data", "meta"],
            "properties": {
                "data": {"type": "array", "items": version},
                "meta": {
                    "type": "object",
                    "properties": {"limit": {"type": "integer"}, "next_cursor": {"type": ["string", "null"]}},
                },
            },
        }
        paging = [
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": max_page_size, "default": page_size},
            },
            {
                "name": "cursor",
                "in": "query",
                "description": "The previous page's `next_cursor`.",
                "schema": {"type": "string"},
            },
        ]
        tags = [resource.name]
        document["paths"][base] = {
            "parameters": [id_parameter(resource)],
            "get": {
                "operationId": f"versions_{resource.name}",
                "tags": tags,
                "summary": f"The versions of a row of {resource.name}, newest first",
                "parameters": paging,
                "responses": {
                    "200": {"description": "One page of versions.", "content": {JSON: {"schema": page}}},
                    **problems("BadRequest", "Unauthorized", "Forbidden", "NotFound"),
                },
            },
        }
        document["paths"][base + "/{version}"] = {
            "parameters": [id_parameter(resource), _number()],
            "get": {
                "operationId": f"version_{resource.name}",
                "tags": tags,
                "summary": f"One version of a row of {resource.name}",
                "responses": {
                    "200": {
                        "description": "The version.",
                        "content": {JSON: {"schema": {"type": "object", "properties": {"data": version}}}},
                    },
                    **problems("BadRequest", "Unauthorized", "Forbidden", "NotFound"),
                },
            },
        }
        document["paths"][base + "/{version}/restore"] = {
            "parameters": [id_parameter(resource), _number()],
            "post": {
                "operationId": f"restore_version_{resource.name}",
                "tags": tags,
                "summary": f"Make a version of a row of {resource.name} its current state (a new version)",
                "description": "An update to the version's values, through the same validation, rules and "
                "events as a PATCH. `If-Match` is honoured.",
                "responses": {
                    "200": {
                        "description": "The row after the restore.",
                        "content": {JSON: {"schema": {"type": "object", "properties": {"data": ref(name)}}}},
                    },
                    **problems("Unauthorized", "Forbidden", "NotFound", "Conflict", "ValidationFailed"),
                    "412": problem_response("The row changed since you read it (If-Match)."),
                },
            },
        }
