"""Query and path parameters of the generated routes, derived from the same tables the query
parser uses (`engine.http.query`), so the document lists exactly what the server accepts."""

from __future__ import annotations

import re
from typing import Any

from engine.http.query import MAX_IN_VALUES, OPERATORS_BY_TYPE
from engine.http.query import _belongs_to as belongs_to
from engine.spec import Field, Resource
from engine.sql.queries import IS_VALUES

OPERATOR_DESCRIPTIONS = {
    "eq": "equals",
    "ne": "differs from",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is greater than",
    "gte": "is at least",
    "in": f"is one of (comma-separated, at most {MAX_IN_VALUES})",
    "is": "is null / not_null (or true / false for booleans)",
    "like": "matches the pattern, case-sensitive (`*` matches any run of characters)",
    "ilike": "matches the pattern, ignoring case (`*` matches any run of characters)",
    "contains": "contains the JSON document (PostgreSQL `@>`)",
}
_SQL_TO_JSON = {
    "text": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
    "timestamptz": {"type": "string", "format": "date-time"},
    "bigint": {"type": "integer"},
    "double precision": {"type": "number"},
    "boolean": {"type": "boolean"},
    "jsonb": {"type": "string", "description": "a JSON document"},
}


def value_schema(field: Field) -> dict[str, Any]:
    """The schema of one query-string value for `field`: its type, format and enum, no more
    (length limits are the body's business; a filter may look for anything)."""
    schema = dict(_SQL_TO_JSON[field.sql_type])
    if field.enum and field.sql_type != "jsonb":
        schema["enum"] = list(field.enum)
    return schema


def _names_pattern(names: list[str], *, descending: bool = False) -> str:
    one = ("-?" if descending else "") + "(" + "|".join(re.escape(n) for n in names) + ")"
    return f"^{one}(,{one})*$"


def _include_pattern(names: list[str]) -> str:
    """Include names, each optionally followed by one deeper name (`agents.user`)."""
    one = "(" + "|".join(re.escape(n) for n in names) + r")(\.[a-z_][a-z0-9_]*)?"
    return f"^{one}(,{one})*$"


def filter_parameters(resource: Resource) -> list[dict[str, Any]]:
    """One parameter per field and operator: `status`, `status[ne]`, `status[in]` ...

    `field[eq]` is accepted too and means the same as `field`; it is not listed twice.
    """
    parameters = []
    for field in resource.fields.values():
        for op in OPERATORS_BY_TYPE[field.sql_type]:
            name = field.name if op == "eq" else f"{field.name}[{op}]"
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": False,
                "description": f"Only rows whose `{field.name}` {OPERATOR_DESCRIPTIONS[op]}.",
                "schema": _operator_schema(field, op),
            }
            if op == "in":
                parameter.update(style="form", explode=False)
            parameters.append(parameter)
    return parameters


def _operator_schema(field: Field, op: str) -> dict[str, Any]:
    if op == "is":
        allowed = list(IS_VALUES) if field.sql_type == "boolean" else ["null", "not_null"]
        return {"type": "string", "enum": allowed}
    if op == "in":
        return {"type": "array", "items": value_schema(field), "maxItems": MAX_IN_VALUES}
    if op in ("like", "ilike", "contains"):
        return {"type": "string"}
    return value_schema(field)


def list_parameters(resource: Resource, *, page_size: int, max_page_size: int) -> list[dict[str, Any]]:
    sortable = [name for name, field in resource.fields.items() if field.sql_type != "jsonb"]
    parameters = [
        {
            "name": "sort",
            "in": "query",
            "description": "Comma-separated fields; `-` before a field sorts descending. "
            f"The primary key `{resource.primary_key}` always breaks ties.",
            "schema": {"type": "string", "pattern": _names_pattern(sortable, descending=True)},
            "example": f"-{'created_at' if 'created_at' in resource.fields else resource.primary_key}",
        },
        {
            "name": "limit",
            "in": "query",
            "description": "Rows per page.",
            "schema": {"type": "integer", "minimum": 1, "maximum": max_page_size, "default": page_size},
        },
        {
            "name": "cursor",
            "in": "query",
            "description": "Opaque position from the previous page's `meta.next_cursor` (or its `Link: rel=next`).",
            "schema": {"type": "string"},
        },
        *projection_parameters(resource),
        *filter_parameters(resource),
    ]
    return parameters


def projection_parameters(resource: Resource) -> list[dict[str, Any]]:
    """`fields` and `include`: accepted by lists and single reads alike."""
    parameters: list[dict[str, Any]] = [
        {
            "name": "fields",
            "in": "query",
            "description": "Comma-separated fields to return (default: all).",
            "schema": {"type": "string", "pattern": _names_pattern(list(resource.fields))},
        }
    ]
    embeddable = sorted({*resource.relations, *resource.references, *belongs_to(resource)})
    if embeddable:
        parameters.append(
            {
                "name": "include",
                "in": "query",
                "description": "Comma-separated related rows to embed: " + ", ".join(embeddable) + "; a path may "
                "go one level deeper into the embedded rows (`agents.user`).",
                "schema": {"type": "string", "pattern": _include_pattern(embeddable)},
            }
        )
    return parameters


def id_parameter(resource: Resource) -> dict[str, Any]:
    schema = dict(_SQL_TO_JSON[resource.pk.sql_type])
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": f"The row's `{resource.primary_key}`.",
        "schema": schema,
    }
