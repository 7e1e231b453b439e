"""The OpenAPI description of the writes of many rows (engine.http.bulk) and of POST /api/batch."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.examples import example_body, update_example
from engine.features.openapi.parameters import filter_parameters, id_parameter
from engine.features.openapi.problems import BODY_PROBLEMS, problems
from engine.features.openapi.query_power import boolean_parameters
from engine.features.openapi.schemas import component_name, ref
from engine.spec import Resource, Spec

JSON = "application/json"
PREFER = "resolution=merge-duplicates"


def _rows(resource: Resource) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": ref(component_name(resource))}},
    }


def _one(resource: Resource) -> dict[str, Any]:
    return {"type": "object", "required": ["data"], "properties": {"data": ref(component_name(resource))}}


def _body(schema: dict[str, Any], description: str, example: Any) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {JSON: {"schema": schema, "example": example}}}


def _unique_keys(resource: Resource) -> list[str]:
    return [",".join(cols) for cols in resource.unique] + [resource.primary_key]


def _create(resource: Resource, operation: dict[str, Any], max_items: int) -> None:
    """POST takes one object or an array of up to `max_items`; `on_conflict` + Prefer make it an upsert."""
    name = component_name(resource)
    items = {"type": "array", "items": ref(f"{name}Create"), "maxItems": max_items}
    for content in operation.get("requestBody", {}).get("content", {}).values():
        content["schema"] = {"oneOf": [content["schema"], items]}
    operation["description"] = (
        operation.get("description", "")
        + f" Send an array of up to {max_items} objects to create them all or none (201 with the rows in"
        " order; an invalid item's errors have paths like `/3/name`). With `on_conflict` and"
        f" `Prefer: {PREFER}` each item updates the row with the same unique key instead, when there is one."
    ).strip()
    if resource.relations:
        names = ", ".join(f"`{n}`" for n in resource.relations)
        operation["description"] += (
            f" An object may carry its links inline ({names}: arrays of what the nested POST routes take),"
            " created in the same transaction; errors point into them (`/<relation>/1/<field>`)."
        )
    parameters = operation.setdefault("parameters", [])
    parameters.append(
        {
            "name": "on_conflict",
            "in": "query",
            "required": False,
            "description": "Upsert on this unique key (needs `Prefer: resolution=merge-duplicates`).",
            "schema": {"type": "string", "enum": _unique_keys(resource)},
        }
    )
    parameters.append(
        {"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string", "enum": [PREFER]}}
    )
    responses = operation.setdefault("responses", {})
    responses.setdefault(
        "200",
        {
            "description": "Upsert: every item updated an existing row.",
            "content": {JSON: {"schema": {"oneOf": [_one(resource), _rows(resource)]}}},
        },
    )
    created = responses.get("201")
    if created is not None and "content" in created:
        created["content"] = {JSON: {"schema": {"oneOf": [_one(resource), _rows(resource)]}}}


def _by_filter(resource: Resource, max_items: int) -> dict[str, Any]:
    name = resource.name
    note = (
        f"At least one filter or or/and/not group is required (400 otherwise); a filter on a field you may not"
        f" read is a 400. Acts on every matching row you may change, or on none:"
        f" a row a rule refuses is a 409 naming it (`row`). At most {max_items} matching rows (413)."
    )
    return {
        "patch": {
            "operationId": f"update_many_{name}",
            "tags": [name],
            "summary": f"Change every {name} row matching the filters",
            "description": note,
            "parameters": [*filter_parameters(resource), *boolean_parameters(resource)],
            "requestBody": _body(
                ref(f"{component_name(resource)}Update"), "The fields to change in every row.", update_example(resource)
            ),
            "responses": {
                "200": {"description": "The changed rows.", "content": {JSON: {"schema": _rows(resource)}}},
                **problems("BadRequest", "Unauthorized", "Forbidden", *BODY_PROBLEMS),
            },
        },
        "delete": {
            "operationId": f"delete_many_{name}",
            "tags": [name],
            "summary": f"Delete every {name} row matching the filters",
            "description": note,
            "parameters": [*filter_parameters(resource), *boolean_parameters(resource)],
            "responses": {
                "200": {
                    "description": "How many rows were deleted.",
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "meta": {"type": "object", "properties": {"count": {"type": "integer"}}}
                                },
                            }
                        }
                    },
                },
                **problems("BadRequest", "Unauthorized", "Forbidden", "Conflict", "PayloadTooLarge"),
            },
        },
    }


def _put(resource: Resource) -> dict[str, Any]:
    one = {"content": {JSON: {"schema": _one(resource)}}}
    return {
        "operationId": f"put_{resource.name}",
        "tags": [resource.name],
        "summary": f"Create the {resource.name} row with this id, or replace it",
        "description": "201 when created (create and update rights), 200 when replaced (update rights);"
        " fields left out go back to their defaults.",
        "requestBody": _body(ref(f"{component_name(resource)}Create"), "The whole row.", example_body(resource)),
        "responses": {
            "200": {"description": "Replaced.", **one},
            "201": {"description": "Created.", "headers": {"Location": {"schema": {"type": "string"}}}, **one},
            **problems("BadRequest", "Unauthorized", "Forbidden", "NotFound", *BODY_PROBLEMS),
        },
    }


def bulk_operations(document: dict[str, Any], spec: Spec, max_items: int) -> None:
    """Add the bulk routes to each resource's paths (the core document describes single-row writes)."""
    paths = document.get("paths", {})
    for resource in spec.resources.values():
        base = f"/api/{resource.name}"
        collection, item = paths.get(base), paths.get(base + "/{id}")
        if collection is None or item is None:
            continue
        if "post" in collection:
            _create(resource, collection["post"], max_items)
        collection.update(_by_filter(resource, max_items))
        item.setdefault("parameters", [id_parameter(resource)])
        item["put"] = _put(resource)


OPERATION = {
    "type": "object",
    "required": ["method", "path"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string", "enum": ["POST", "PUT", "PATCH", "DELETE"]},
        "path": {
            "type": "string",
            "pattern": "^/api/",
            "description": "A resource collection or item, with a query string for bulk writes; `{0/data/id}`"
            " is replaced by that value of an earlier result.",
        },
        "body": {"description": 'The request body; `{"$ref": "0/data/id"}` anywhere in it is replaced by that value.'},
    },
}


EXAMPLE = {
    "operations": [
        {"method": "POST", "path": "/api/teams", "body": {"name": "Support"}},
        {"method": "PATCH", "path": "/api/teams/{0/data/id}", "body": {"name": {"$ref": "0/data/name"}}},
    ]
}


def batch_paths() -> dict[str, Any]:
    result = {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "integer"},
            "body": {"description": "The operation's answer (none for 204)."},
        },
    }
    return {
        "/api/batch": {
            "post": {
                "operationId": "batch",
                "tags": ["batch"],
                "summary": "Run up to 100 write operations in one transaction",
                "description": "Every operation or none. One failure rolls all back: the answer is that"
                " operation's problem, with `operation` its index.",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["operations"],
                        "additionalProperties": False,
                        "properties": {
                            "operations": {"type": "array", "minItems": 1, "maxItems": 100, "items": OPERATION}
                        },
                    },
                    "The operations, run in order.",
                    EXAMPLE,
                ),
                "responses": {
                    "200": {
                        "description": "One result per operation, in order.",
                        "content": {
                            JSON: {
                                "schema": {
                                    "type": "object",
                                    "properties": {"results": {"type": "array", "items": result}},
                                }
                            }
                        },
                    },
                    **problems("BadRequest", "Unauthorized", "Forbidden", "NotFound", *BODY_PROBLEMS),
                },
            }
        }
    }
