"""Nested routes of many-to-many relations (`/api/teams/{id}/members[/{user_id}]`).

The paths come from `engine.features.relations.nested.NestedHandlers`, the class that serves them, so the
document and the router cannot disagree about a URL.
"""

from __future__ import annotations

from typing import Any

from engine.features.openapi.examples import example_body, example_value
from engine.features.openapi.invitations import answer_paths, invited_response, my_invitations_path
from engine.features.openapi.parameters import id_parameter, list_parameters, projection_parameters
from engine.features.openapi.paths import JSON, LIST_HEADERS, _envelope, _json_body, _security, list_answer
from engine.features.openapi.problems import BODY_PROBLEMS, problems
from engine.features.openapi.query_power import power_parameters
from engine.features.openapi.schemas import component_name, create_schema, ref, update_schema
from engine.features.relations.nested import NestedHandlers
from engine.spec import Resource, Spec


def _other_parameter(handlers: NestedHandlers) -> dict[str, Any]:
    other = handlers.through.fields[handlers.relation.other]
    schema = {"type": "string", "format": "uuid"} if other.sql_type == "uuid" else {"type": "string"}
    if other.sql_type == "bigint":
        schema = {"type": "integer"}
    return {
        "name": handlers.other_param,
        "in": "path",
        "required": True,
        "description": f"The `{handlers.relation.other}` of the linked {handlers.relation.target} row.",
        "schema": schema,
    }


def _link_schema(handlers: NestedHandlers, target: Resource) -> dict[str, Any]:
    """A link: the join row, carrying its far-side row (null when the caller may not read it)."""
    relation = handlers.relation
    far = {"anyOf": [ref(component_name(target)), {"type": "null"}]}
    return {
        "allOf": [ref(component_name(handlers.through)), {"type": "object", "properties": {relation.far_name: far}}]
    }


def _attach_schema(handlers: NestedHandlers) -> dict[str, Any]:
    """The join resource's create body without the key the URL supplies (sending it is a 422)."""
    schema = create_schema(handlers.through)
    schema["properties"].pop(handlers.relation.key, None)
    required = [name for name in schema.get("required", ()) if name != handlers.relation.key]
    schema.pop("required", None)
    return {**schema, "required": required} if required else schema


def _link_update_schema(handlers: NestedHandlers) -> dict[str, Any]:
    """A PATCH of a link: only the join row's own fields (the ones in the URL are refused)."""
    schema = update_schema(handlers.through)
    editable = handlers.editable_fields()
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k in editable}
    return schema


def _operation(handlers: NestedHandlers, action: str, summary: str, **parts: Any) -> dict[str, Any]:
    parent, relation = handlers.parent, handlers.relation
    needs = "read" if action in ("list", "read") else "update"
    return {
        "operationId": f"{action}_{parent.name}_{relation.name}",
        "tags": [parent.name],
        "summary": summary,
        "description": f"Needs the `{needs}` permission on the {parent.name} row; the body and results are "
        f"{handlers.through.name} rows ({relation.key} is set from the URL).",
        **_security(parent, needs),
        **parts,
    }


def _nested_paths(handlers: NestedHandlers, target: Resource, *, page_size: int, max_page_size: int) -> dict[str, Any]:
    parent, relation, through = handlers.parent, handlers.relation, handlers.through
    row = _link_schema(handlers, target)
    one = {"content": {JSON: {"schema": _envelope(row)}}}
    listing = [
        *list_parameters(through, page_size=page_size, max_page_size=max_page_size),
        *power_parameters(through),
    ]
    collection = {
        "parameters": [id_parameter(parent)],
        "get": _operation(
            handlers,
            "list",
            f"List the {relation.name} of a {parent.name} row",
            parameters=listing,
            responses={
                "200": {
                    "description": "One page of links (or, with group_by/aggregate, the groups of this "
                    f"{parent.name} row's links).",
                    "headers": LIST_HEADERS,
                    "content": {JSON: {"schema": list_answer(through, row)}},
                },
                **problems("BadRequest", "Unauthorized", "Forbidden", "NotFound"),
            },
        ),
        "post": _operation(
            handlers,
            "attach",
            f"Add to the {relation.name} of a {parent.name} row",
            requestBody=_json_body(
                _attach_schema(handlers),
                f"The {through.name} row; `{relation.key}` comes from the URL.",
                example_body(through, leave_out=(relation.key,)),
            ),
            responses={
                **(
                    invited_response(handlers)
                    if relation.invite is not None
                    else {
                        "201": {
                            "description": "Linked.",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            **one,
                        }
                    }
                ),
                **problems("BadRequest", "Unauthorized", "Forbidden", "NotFound", *BODY_PROBLEMS),
            },
        ),
    }
    item: dict[str, Any] = {
        "parameters": [id_parameter(parent), _other_parameter(handlers)],
        "get": _operation(
            handlers,
            "read",
            f"Read one of the {relation.name} of a {parent.name} row",
            parameters=projection_parameters(through),
            responses={"200": {"description": "The link.", **one}, **problems("Unauthorized", "Forbidden", "NotFound")},
        ),
        "delete": _operation(
            handlers,
            "detach",
            f"Remove from the {relation.name} of a {parent.name} row",
            responses={"204": {"description": "Unlinked."}, **problems("Unauthorized", "Forbidden", "NotFound")},
        ),
    }
    if handlers.editable_fields():
        link_schema = _link_update_schema(handlers)
        item["patch"] = _operation(
            handlers,
            "update",
            f"Change a link among the {relation.name} of a {parent.name} row",
            requestBody=_json_body(
                link_schema,
                f"Only the link's own fields: {', '.join(handlers.editable_fields())}.",
                {name: example_value(prop) for name, prop in list(link_schema["properties"].items())[:1]},
            ),
            responses={
                "200": {"description": "The link after the change.", **one},
                **problems("BadRequest", "Unauthorized", "Forbidden", "NotFound", *BODY_PROBLEMS),
            },
        )
    paths = {handlers.base: collection, handlers.item: item}
    if relation.invite is not None:
        paths.update(answer_paths(handlers, _other_parameter(handlers), one))
    return paths


def nested_paths(spec: Spec, *, page_size: int, max_page_size: int) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for parent in spec.resources.values():
        for relation in parent.relations.values():
            handlers = NestedHandlers(parent, relation, spec.resources[relation.through])
            target = spec.resources[relation.target]
            paths.update(_nested_paths(handlers, target, page_size=page_size, max_page_size=max_page_size))
    paths.update(my_invitations_path(spec))
    return paths
