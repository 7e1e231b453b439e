"""The list query language: `?field=v`, `?field[op]=v`, sort, limit, cursor, fields, include.

Anything the engine does not understand is a 400 naming it; nothing is silently ignored, so
a typo in a filter can never widen a result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from multidict import MultiMapping

from engine.http.query_power import PARAMETERS as POWER
from engine.http.query_power import parse_power
from engine.kernel.errors import BadRequest
from engine.resources.listing import RESERVED, ListQuery, unknown_parameter
from engine.resources.values import ValueProblem, from_query
from engine.spec import Field, Resource
from engine.sql.queries import IS_VALUES, Filter, SortKey

_FILTER = re.compile(r"^([a-z_][a-z0-9_]*)(?:\[([a-z]+)\])?$")

# Which operators make sense for which column type.
_COMPARABLE = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "is")
OPERATORS_BY_TYPE: Mapping[str, tuple[str, ...]] = {
    "text": (*_COMPARABLE, "like", "ilike"),
    "uuid": ("eq", "ne", "in", "is"),
    "bigint": _COMPARABLE,
    "double precision": _COMPARABLE,
    "timestamptz": _COMPARABLE,
    "boolean": ("eq", "ne", "is"),
    "jsonb": ("contains", "is"),
}
MAX_IN_VALUES = 100


def _bad(parameter: str, message: str) -> BadRequest:
    return BadRequest(message, parameter=parameter[:100])


def _single(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise _bad(name, f"'{name}' is given more than once")
    return values[0] if values else None


def _names(resource: Resource, parameter: str, text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise _bad(parameter, f"'{parameter}' has an empty name; use a comma-separated list")
    for name in names:
        field = name.lstrip("-") if parameter == "sort" else name
        if field not in resource.fields or (parameter == "sort" and resource.fields[field].write_only):
            raise _bad(
                parameter, f"unknown field {field[:100]!r} in '{parameter}'; fields are: " + ", ".join(resource.fields)
            )
    return names


def parse_sort(resource: Resource, text: str | None) -> tuple[SortKey, ...]:
    keys: list[SortKey] = []
    for name in _names(resource, "sort", text) if text is not None else []:
        key = SortKey(name.lstrip("-"), name.startswith("-"))
        if resource.fields[key.field].sql_type == "jsonb":
            raise _bad("sort", f"cannot sort by {key.field!r}: it holds JSON")
        if any(k.field == key.field for k in keys):
            raise _bad("sort", f"{key.field!r} appears twice in 'sort'")
        keys.append(key)
    if not any(k.field == resource.primary_key for k in keys):
        keys.append(SortKey(resource.primary_key, keys[-1].descending if keys else False))
    return tuple(keys)


def parse_limit(text: str | None, default: int, maximum: int) -> int:
    if text is None:
        return default
    try:
        limit = int(text)
    except ValueError:
        raise _bad("limit", f"'limit' must be an integer between 1 and {maximum}") from None
    if not 1 <= limit <= maximum:
        raise _bad("limit", f"'limit' must be between 1 and {maximum} (got {text[:20]})")
    return limit


def parse_filter(resource: Resource, key: str, text: str) -> Filter:
    match = _FILTER.match(key)
    if not match:
        raise _bad(key, f"unknown query parameter {key[:100]!r}")
    name, op = match.group(1), match.group(2) or "eq"
    field = resource.fields.get(name)
    if field is None or field.write_only:  # a secret is stored encrypted: nothing to compare with
        raise _bad(key, unknown_parameter(resource, name))
    allowed = OPERATORS_BY_TYPE[field.sql_type]
    if op not in allowed:
        raise _bad(
            key, f"operator {op!r} does not apply to {name!r} ({field.sql_type}); use one of: " + ", ".join(allowed)
        )
    try:
        return Filter(name, op, _value(field, op, text))
    except ValueProblem as problem:
        raise _bad(key, f"invalid value for {key}: expected {problem}{_operator_hint(name, op, text)}") from None


_POSTGREST_OPERATOR = re.compile(r"^(eq|neq|ne|gt|gte|lt|lte|like|ilike|in|is)\.(.*)$", re.DOTALL)


def _operator_hint(name: str, op: str, text: str) -> str:
    """For `status=eq.active` (PostgREST's spelling), where the operator belongs: `status[eq]=active`."""
    match = _POSTGREST_OPERATOR.match(text) if op == "eq" else None
    if match is None:
        return ""
    wanted, rest = match.groups()
    wanted = "ne" if wanted == "neq" else wanted
    rest = rest.strip("()") if wanted == "in" else rest
    return f"; operators go in brackets: {name}[{wanted}]={rest}"


def _value(field, op: str, text: str):
    if op == "is":
        if text not in IS_VALUES:
            raise ValueProblem(" or ".join(IS_VALUES))
        if text in ("true", "false") and field.sql_type != "boolean":
            raise ValueProblem("null or not_null (true and false apply to boolean fields)")
        return text
    if op == "in":
        items = text.split(",")
        if len(items) > MAX_IN_VALUES:
            raise ValueProblem(f"at most {MAX_IN_VALUES} comma-separated values")
        return [_member(field, from_query(field, item)) for item in items]
    if op in ("like", "ilike"):
        if "\x00" in text:
            raise ValueProblem("a pattern without NUL characters")
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return escaped.replace("*", "%")
    return _member(field, from_query(field, text))


def _member(field: Field, value: Any) -> Any:
    """A comparison with a field that has an `enum` takes only its values, as /openapi.json says: a
    typo (`status=actve`) is a 400 naming them, not an empty list that looks like "no such rows"."""
    if field.enum is not None and value not in field.enum:
        raise ValueProblem("one of " + ", ".join(str(v) for v in field.enum))
    return value


def parse_list_query(
    resource: Resource,
    query: MultiMapping[str],
    *,
    page_size: int,
    max_page_size: int,
    power: tuple[str, ...] = POWER,
) -> ListQuery:
    """`power`: which of count, or/and/not, group_by/aggregate and q the route serves (the others
    are unknown parameters there, so never silently ignored)."""
    filters = [
        parse_filter(resource, key, value) for key, value in query.items() if key not in RESERVED and key not in power
    ]
    fields_text = _single(query, "fields")
    include_text = _single(query, "include")
    include = tuple(n.strip() for n in include_text.split(",")) if include_text is not None else ()
    for name in (path.partition(".")[0] for path in include):  # deeper names: engine.features.relations
        if name not in resource.relations and name not in resource.references and name not in _belongs_to(resource):
            raise _bad("include", f"unknown relation {name[:100]!r} in 'include'")
    return ListQuery(
        filters=tuple(filters),
        sort=parse_sort(resource, _single(query, "sort")),
        fields=tuple(dict.fromkeys(_names(resource, "fields", fields_text))) if fields_text is not None else None,
        limit=parse_limit(_single(query, "limit"), page_size, max_page_size),
        cursor=_single(query, "cursor"),
        include=include,
        **parse_power(resource, query, parse_filter, power),
    )


def _belongs_to(resource: Resource) -> set[str]:
    """include=user for a user_id reference: the column name without its _id suffix."""
    return {column.removesuffix("_id") for column in resource.references}


def parse_fields(resource: Resource, query: MultiMapping[str]) -> tuple[str, ...] | None:
    """A single-row read accepts `fields` and `include` only."""
    for key in query:
        if key not in ("fields", "include"):
            raise _bad(key, f"unknown query parameter {key[:100]!r} for a single row; use fields or include")
    text = _single(query, "fields")
    return tuple(dict.fromkeys(_names(resource, "fields", text))) if text is not None else None


def refuse_parameters(query: MultiMapping[str], what: str, allowed: tuple[str, ...] = ()) -> None:
    """A write takes no query parameter but `allowed`: any other is the 400 a read answers for an
    unknown parameter, before anything is written, so a typo never passes silently on writes either."""
    for key in query:
        if key not in allowed:
            takes = f"it takes only {', '.join(allowed)}" if allowed else "it takes none"
            raise _bad(key, f"unknown query parameter {key[:100]!r} for {what}; {takes}")


def parse_include(query: MultiMapping[str]) -> tuple[str, ...]:
    """The raw names of a single-row read's `include` (the list parser does the same for lists)."""
    values = query.getall("include", [])
    if len(values) > 1:
        raise BadRequest("'include' is given more than once; use a comma-separated list", parameter="include")
    return tuple(n.strip() for n in values[0].split(",")) if values else ()
