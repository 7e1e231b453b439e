"""The MCP tools of a spec: one per resource and action, and each call's REST request.

A tool is a REST route under another name: `agents_list` is `GET /api/agents`, `agents_update` is
`PATCH /api/agents/{id}`. Input schemas come from the resource's JSON Schema (the bodies, as the
OpenAPI document describes them) and from the query language (filters per field and operator,
sort, limit, cursor, fields, include). Arguments only change shape here, into a query string and
a body; every value is judged by the REST route itself, so a tool accepts and refuses exactly
what the route does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import mcp_types as types
import orjson

from engine.features.mcp.names import VERBS
from engine.features.openapi.schemas import component_name, create_schema, update_schema
from engine.features.transitions.rules import described
from engine.http.query import MAX_IN_VALUES, OPERATORS_BY_TYPE, RESERVED
from engine.kernel.errors import BadRequest
from engine.kernel.identity import Identity
from engine.spec import Field, Resource

METHODS = {"list": "GET", "read": "GET", "create": "POST", "update": "PATCH", "delete": "DELETE"}
_JSON_TYPES = {
    "text": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
    "bigint": {"type": "integer"},
    "double precision": {"type": "number"},
    "timestamptz": {"type": "string", "format": "date-time"},
    "boolean": {"type": "boolean"},
    "jsonb": {},
}
_ANNOTATIONS = {
    "list": types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
    "read": types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
    "create": types.ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
    "update": types.ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
    ),
    "delete": types.ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
    ),
}


@dataclass(frozen=True)
class Call:
    """The REST request a tool call becomes."""

    method: str
    path: str  # with its query string
    body: bytes | None = None


# Whether the caller's roles (and credential scopes) allow an action on a resource: the server asks
# the `authorize` hook as the REST routes do (engine.resources.access.may), per tool/list.
Ask = Callable[[Resource, str], Awaitable[bool]]


class Tool(Protocol):
    """A tool of the catalog: its MCP description, who sees it, and the REST request a call becomes."""

    name: str
    tool: types.Tool

    async def allowed(self, ask: Ask, identity: Identity | None) -> bool: ...

    def call(self, arguments: Mapping[str, Any] | None) -> Call: ...

    def done(self, arguments: Mapping[str, Any] | None, status: int) -> str: ...


def known_arguments(name: str, tool: types.Tool, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """The arguments, refused (400) when one is not in the tool's input schema."""
    arguments = dict(arguments or {})
    expected = tuple(tool.input_schema.get("properties", {}))
    unknown = [key for key in arguments if key not in expected]
    if unknown:
        raise BadRequest(f"unknown argument {unknown[0][:100]!r} for {name}; expected: {', '.join(expected) or 'none'}")
    return arguments


@dataclass(frozen=True)
class ResourceTool:
    name: str
    resource: Resource
    action: str
    tool: types.Tool

    async def allowed(self, ask: Ask, identity: Identity | None) -> bool:
        return await ask(self.resource, self.action)

    def done(self, arguments: Mapping[str, Any] | None, status: int) -> str:
        """What a bodiless answer (a delete's 204) says."""
        return f"{self.resource.name} {(arguments or {}).get('id')} deleted ({status})"

    def call(self, arguments: Mapping[str, Any] | None) -> Call:
        """The REST request for these arguments; a BadRequest when their shape is wrong."""
        arguments = known_arguments(self.name, self.tool, arguments)
        base = f"/api/{self.resource.name}"
        if self.action == "list":
            return Call("GET", _with_query(base, _list_query(self.resource, arguments)))
        if self.action == "create":
            return Call("POST", base, _body(self.name, arguments))
        item = f"{base}/{_id(self.name, arguments)}"
        if self.action == "read":
            return Call("GET", _with_query(item, _names_query(arguments, ("fields", "include"))))
        if self.action == "update":
            return Call("PATCH", item, _body(self.name, arguments))
        return Call("DELETE", item)


@dataclass(frozen=True)
class MeTool:
    """`me`: who the caller is, as `GET /api/me` answers (their own users row)."""

    users: Resource
    name: str = "me"
    tool: types.Tool = field(
        default_factory=lambda: types.Tool(
            name="me",
            title="Who am I",
            description=(
                'Your own user (who these credentials speak for): answers {"data": row} as GET /api/me does, '
                "with the fields you may read. Errors are RFC 9457 problems, as the REST API's."
            ),
            input_schema=_object({}, []),
            annotations=_ANNOTATIONS["read"],
        )
    )

    async def allowed(self, ask: Ask, identity: Identity | None) -> bool:
        """Signed-in callers who may read users, as the route requires (anonymous: 401 there)."""
        return identity is not None and await ask(self.users, "read")

    def call(self, arguments: Mapping[str, Any] | None) -> Call:
        known_arguments(self.name, self.tool, arguments)
        return Call("GET", "/api/me")

    def done(self, arguments: Mapping[str, Any] | None, status: int) -> str:
        return f"no content ({status})"


# --- arguments -> query string and body ------------------------------------------------------


def _with_query(path: str, pairs: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(pairs)}" if pairs else path


def _id(tool: str, arguments: dict[str, Any]) -> str:
    value = arguments.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise BadRequest(f"{tool} needs 'id': the row's primary key, as a string or an integer")
    return quote(str(value), safe="")


def _body(tool: str, arguments: dict[str, Any]) -> bytes:
    data = arguments.get("data")
    if not isinstance(data, dict):
        raise BadRequest(f"{tool} needs 'data': a JSON object with the fields to write")
    return _strict_json(data, "data").encode()


def _strict_json(value: Any, where: str) -> str:
    """JSON text of `value`, refusing the NaN and Infinity that some parsers let into arguments."""
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        raise BadRequest(f"'{where}' holds NaN or Infinity, which JSON does not allow") from None


def _names_query(arguments: dict[str, Any], names: tuple[str, ...]) -> list[tuple[str, str]]:
    """`fields`, `include`, `sort`: a list of names (or the REST comma-separated text) -> one parameter."""
    pairs = []
    for name in names:
        value = arguments.get(name)
        if value is None:
            continue
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            value = ",".join(value)
        if not isinstance(value, str):
            raise BadRequest(f"'{name}' must be a list of names", parameter=name)
        pairs.append((name, value))
    return pairs


def _list_query(resource: Resource, arguments: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = _filters(arguments.get("filter"))
    pairs += _names_query(arguments, ("sort", "fields", "include"))
    limit = arguments.get("limit")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int | str):
            raise BadRequest("'limit' must be an integer", parameter="limit")
        pairs.append(("limit", str(limit)))
    cursor = arguments.get("cursor")
    if cursor is not None:
        if not isinstance(cursor, str):
            raise BadRequest("'cursor' must be the string a previous page gave as meta.next_cursor", parameter="cursor")
        pairs.append(("cursor", cursor))
    return pairs


def _filters(conditions: Any) -> list[tuple[str, str]]:
    """{field: value} (equals) or {field: {operator: value}} -> `field=value`, `field[op]=value`."""
    if conditions is None:
        return []
    if not isinstance(conditions, dict):
        raise BadRequest("'filter' must be an object: {field: value} or {field: {operator: value}}", parameter="filter")
    pairs = []
    for name, condition in conditions.items():
        if name in RESERVED:
            raise BadRequest(f"{name!r} is not a field that can be filtered on", parameter="filter")
        if isinstance(condition, dict):
            if not condition:
                raise BadRequest(f"filter {name!r} names no operator", parameter="filter")
            pairs += [(f"{name}[{op}]", _operand(name, op, value)) for op, value in condition.items()]
        elif condition is None:
            pairs.append((f"{name}[is]", "null"))
        else:
            pairs.append((name, _operand(name, "eq", condition)))
    return pairs


def _operand(name: str, op: str, value: Any) -> str:
    if op == "contains":
        return _strict_json(value, "filter")
    if op == "in" and isinstance(value, list):
        return ",".join(_scalar(name, op, item) for item in value)
    return _scalar(name, op, value)


def _scalar(name: str, op: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequest(f"filter {name}[{op}]: NaN and Infinity are not values", parameter="filter")
    if isinstance(value, int | float):
        return json.dumps(value)
    raise BadRequest(f"filter {name}[{op}]: expected a single value, not {type(value).__name__}", parameter="filter")


# --- input schemas and descriptions ------------------------------------------------------------


def _tool(resource: Resource, action: str, page_size: int, max_page_size: int) -> types.Tool:
    name = f"{resource.name}_{VERBS[action]}"
    if action == "list":
        schema = _list_input(resource, page_size, max_page_size)
    elif action == "read":
        schema = _object({"id": _id_schema(resource), **_projection(resource)}, ["id"])
    elif action == "create":
        schema = _object({"data": _body_schema(resource, create_schema(resource))}, ["data"])
    elif action == "update":
        data = _body_schema(resource, update_schema(resource))
        schema = _object({"id": _id_schema(resource), "data": data}, ["id", "data"])
    else:
        schema = _object({"id": _id_schema(resource)}, ["id"])
    title = _TITLES[action].format(name=resource.name)
    return types.Tool(
        name=name,
        title=title,
        description=_description(resource, action, title),
        input_schema=schema,
        annotations=_ANNOTATIONS[action],
    )


_TITLES = {
    "list": "List {name}",
    "read": "Get one of {name}",
    "create": "Create one of {name}",
    "update": "Update one of {name}",
    "delete": "Delete one of {name}",
}
_ANSWERS = {
    "list": (
        'Answers {{"data": [rows], "meta": {{"limit", "next_cursor"}}}} as GET /api/{name} does; pass meta.next_cursor '
        "as cursor for the next page. Only rows you may see are listed, with the fields you may read."
    ),
    "read": 'Answers {{"data": row}} as GET /api/{name}/{{id}} does; a row you may not see is not found.',
    "create": (
        'Answers {{"data": row}} as POST /api/{name} does. data is validated against the schema; '
        "the owner is set from your credentials."
    ),
    "update": (
        'Changes only the fields in data (a merge, as PATCH /api/{name}/{{id}} does) and answers {{"data": row}}.'
    ),
    "delete": "Deletes the row, as DELETE /api/{name}/{{id}} does.",
}


def _description(resource: Resource, action: str, title: str) -> str:
    about = [str(resource.schema[key]).rstrip(". ") for key in ("title", "description") if resource.schema.get(key)]
    lead = f"{title}" + (f" ({': '.join(about)})" if about else "") + "."
    moves = f" {described(resource.transitions)}" if action == "update" and resource.transitions else ""
    return (
        f"{lead} {_ANSWERS[action].format(name=resource.name)}{moves} Errors are RFC 9457 problems, as the REST API's."
    )


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _id_schema(resource: Resource) -> dict[str, Any]:
    shown = _JSON_TYPES.get(resource.pk.sql_type) or {"type": "string"}
    return {**shown, "description": f"The primary key ({resource.primary_key}) of the row."}


def _body_schema(resource: Resource, schema: dict[str, Any]) -> dict[str, Any]:
    """A body schema from the OpenAPI components, its `$ref`s pointing inside the tool's `data`."""
    root = f"#/components/schemas/{component_name(resource)}".encode()
    return orjson.loads(orjson.dumps(schema).replace(b'"' + root, b'"#/properties/data'))


def _projection(resource: Resource) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "fields": {
            "type": "array",
            "items": {"enum": list(resource.fields)},
            "uniqueItems": True,
            "description": "Return only these fields (default: every field you may read).",
        }
    }
    includes = _includable(resource)
    if includes:
        properties["include"] = {
            "type": "array",
            "items": {"type": "string"},
            "description": "Embed related rows: " + ", ".join(includes) + " (deeper paths with dots).",
        }
    return properties


def _includable(resource: Resource) -> list[str]:
    belongs_to = [column.removesuffix("_id") for column in resource.references if column.endswith("_id")]
    return list(dict.fromkeys([*resource.relations, *belongs_to, *resource.references]))


def _list_input(resource: Resource, page_size: int, max_page_size: int) -> dict[str, Any]:
    filterable = {name: f for name, f in resource.fields.items() if not f.write_only}
    sortable = [name for name, f in filterable.items() if f.sql_type != "jsonb"]
    properties = {
        "filter": {
            "type": "object",
            "properties": {name: _filter_schema(f) for name, f in filterable.items()},
            "additionalProperties": False,
            "description": (
                "Conditions, all of which a row must meet: {field: value} (equals), {field: null} (is null), "
                "or {field: {operator: value}}; like and ilike take * as a wildcard."
            ),
        },
        "sort": {
            "type": "array",
            "items": {"enum": [key for name in sortable for key in (name, f"-{name}")]},
            "description": "Sort keys, most significant first; a leading - sorts descending.",
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": max_page_size,
            "description": f"Rows per page (default {page_size}).",
        },
        "cursor": {"type": "string", "description": "meta.next_cursor of the previous page."},
        **_projection(resource),
    }
    return _object(properties, [])


def _filter_schema(field: Field) -> dict[str, Any]:
    value = _value_schema(field)
    operators = {op: _operator_schema(field, op, value) for op in OPERATORS_BY_TYPE[field.sql_type]}
    by_operator = {"type": "object", "properties": operators, "additionalProperties": False, "minProperties": 1}
    if "eq" not in operators:
        return by_operator
    return {"anyOf": [value, {"type": "null"}, by_operator]}


def _value_schema(field: Field) -> dict[str, Any]:
    if field.enum:
        return {"enum": [v for v in field.enum if v is not None]}
    return dict(_JSON_TYPES[field.sql_type])


def _operator_schema(field: Field, op: str, value: dict[str, Any]) -> dict[str, Any]:
    if op == "in":
        return {"type": "array", "items": value, "maxItems": MAX_IN_VALUES}
    if op == "is":
        return {"enum": ["null", "not_null", "true", "false"] if field.sql_type == "boolean" else ["null", "not_null"]}
    if op in ("like", "ilike"):
        return {"type": "string", "description": "* matches any run of characters"}
    if op == "contains":
        return {"description": "rows whose JSON value contains this JSON document"}
    return value
