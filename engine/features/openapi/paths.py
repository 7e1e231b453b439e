"""The five generated operations of every resource: list, create, read, update, delete."""

from __future__ import annotations

from typing import Any

from engine.features.access.plugin import allowed_roles
from engine.features.openapi.examples import example_body, update_example
from engine.features.openapi.parameters import id_parameter, list_parameters, projection_parameters
from engine.features.openapi.problems import BODY_PROBLEMS, problems
from engine.features.openapi.query_power import META, groups_schema, power_parameters
from engine.features.openapi.schemas import component_name, ref
from engine.http.body import JSON_TYPES
from engine.http.handlers import ResourceHandlers
from engine.kernel.identity import ANONYMOUS_ROLE
from engine.spec import Resource

JSON = "application/json"
# Marks an operation callers may use without credentials; `document.finish_security` turns it
# into "no credentials, or any of the document's security schemes".
ANONYMOUS_ALLOWED: list[dict[str, list[str]]] = [{}]


def _roles_note(resource: Resource, action: str) -> str:
    roles = allowed_roles(resource, action)
    owner = (
        f" Non-admins see and change only rows whose `{resource.owner}` is their user id."
        if resource.owner and action != "create"
        else ""
    )
    return f"Roles: {', '.join(roles)}.{owner}"


def _security(resource: Resource, action: str) -> dict[str, Any]:
    return {"security": list(ANONYMOUS_ALLOWED)} if ANONYMOUS_ROLE in allowed_roles(resource, action) else {}


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["data"], "properties": {"data": data}}


def _json_body(schema: str | dict[str, Any], description: str, example: dict[str, Any]) -> dict[str, Any]:
    """A JSON request body; `schema` is a component name or an inline schema."""
    shape = ref(schema) if isinstance(schema, str) else schema
    return {
        "required": True,
        "description": description,
        "content": {media: {"schema": shape, "example": example} for media in JSON_TYPES},
    }


def _operation(resource: Resource, action: str, summary: str, **parts: Any) -> dict[str, Any]:
    return {
        "operationId": f"{action}_{resource.name}",
        "tags": [resource.name],
        "summary": summary,
        "description": _roles_note(resource, action),
        **_security(resource, action),
        **parts,
    }


LIST_HEADERS = {
    "Link": {"description": 'The next page: `<...>; rel="next"`.', "schema": {"type": "string"}},
    "Preference-Applied": {
        "description": "`count=<mode>` when the total answers `Prefer: count=<mode>`.",
        "schema": {"type": "string"},
    },
}


def list_answer(resource: Resource, item: dict[str, Any]) -> dict[str, Any]:
    """The body of a list of `resource` rows (each an `item`): a page, or with group_by/aggregate the
    groups when the resource declares aggregates. Top-level and nested lists answer alike."""
    page = {
        "type": "object",
        "required": ["data", "meta"],
        "properties": {
            "data": {"type": "array", "items": item},
            "meta": {
                "type": "object",
                "properties": {
                    "limit": {"type": "integer"},
                    "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page."},
                    **META,
                },
            },
        },
    }
    groups = groups_schema(resource)
    return page if groups is None else {"anyOf": [page, groups]}


def resource_paths(resource: Resource, *, page_size: int, max_page_size: int) -> dict[str, dict[str, Any]]:
    """{path: path item} for one resource, using its components (see schemas.resource_components)."""
    base = ResourceHandlers(resource).base
    row = component_name(resource)
    one = {"content": {JSON: {"schema": _envelope(ref(row))}}}
    answer = list_answer(resource, ref(row))
    return {
        base: {
            "get": _operation(
                resource,
                "list",
                f"List {resource.name}",
                parameters=[
                    *list_parameters(resource, page_size=page_size, max_page_size=max_page_size),
                    *power_parameters(resource),
                ],
                responses={
                    "200": {
                        "description": "One page of rows (or, with group_by/aggregate, the groups).",
                        "headers": LIST_HEADERS,
                        "content": {JSON: {"schema": answer}},
                    },
                    **problems("BadRequest", "Unauthorized", "Forbidden"),
                },
            ),
            "post": _operation(
                resource,
                "create",
                f"Create a row in {resource.name}",
                requestBody=_json_body(f"{row}Create", "The new row.", example_body(resource)),
                responses={
                    "201": {
                        "description": "Created; `Location` is the new row's URL.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        **one,
                    },
                    **problems("BadRequest", "Unauthorized", "Forbidden", *BODY_PROBLEMS),
                },
            ),
        },
        base + "/{id}": {
            "parameters": [id_parameter(resource)],
            "get": _operation(
                resource,
                "read",
                f"Read one row of {resource.name}",
                parameters=projection_parameters(resource),
                responses={
                    "200": {"description": "The row.", **one},
                    **problems("BadRequest", "Unauthorized", "Forbidden", "NotFound"),
                },
            ),
            "patch": _operation(
                resource,
                "update",
                f"Change a row of {resource.name}",
                requestBody=_json_body(f"{row}Update", "Only the fields to change.", update_example(resource)),
                responses={
                    "200": {"description": "The row after the change.", **one},
                    **problems("BadRequest", "Unauthorized", "Forbidden", "NotFound", *BODY_PROBLEMS),
                },
            ),
            "delete": _operation(
                resource,
                "delete",
                f"Delete a row of {resource.name}",
                responses={
                    "204": {"description": "Deleted."},
                    **problems("Unauthorized", "Forbidden", "NotFound", "Conflict"),
                },
            ),
        },
    }
