"""Opaque keyset cursors: the sort they belong to plus the last row's sort values."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import orjson

from engine.kernel.errors import BadRequest
from engine.resources.values import ValueProblem, from_query, to_json
from engine.spec import Field, Resource
from engine.sql.queries import SortKey


def sort_signature(sort: tuple[SortKey, ...]) -> str:
    return ",".join(("-" if k.descending else "") + k.field for k in sort)


def encode(resource: Resource, sort: tuple[SortKey, ...], row: dict[str, Any]) -> str:
    values = [_value(resource.fields[k.field], row[k.field]) for k in sort]
    raw = orjson.dumps([sort_signature(sort), values])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(resource: Resource, sort: tuple[SortKey, ...], token: str) -> list[Any]:
    """The cursor's sort values as column values; 400 if it is not one of ours or another sort's."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        signature, values = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise BadRequest(
            "cursor is not valid: pass meta.next_cursor from the previous page unchanged", parameter="cursor"
        ) from None
    if signature != sort_signature(sort) or not isinstance(values, list) or len(values) != len(sort):
        raise BadRequest(
            "cursor belongs to a different sort: keep the sort of the page that returned it", parameter="cursor"
        )
    try:
        return [_position(resource.fields[k.field], v) for k, v in zip(sort, values, strict=True)]
    except (ValueProblem, ValueError, TypeError, AttributeError):
        raise BadRequest(
            "cursor is not valid: pass meta.next_cursor from the previous page unchanged", parameter="cursor"
        ) from None


_NOT_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _value(field: Field, value: Any) -> Any:
    """One sort value for a cursor: JSON has no NaN or infinities (orjson writes null), so a double
    that is one travels as its name."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return to_json(field, value)


def _position(field: Field, value: Any) -> Any:
    """One sort value from a cursor, checked like a query-string value: a forged cursor is a 400, never a 500."""
    if value is None:
        return None
    if field.sql_type == "double precision" and value in _NOT_FINITE:
        return _NOT_FINITE[value]
    if isinstance(value, bool) != (field.sql_type == "boolean"):
        raise ValueProblem("a value of the column's type")
    if field.sql_type in ("bigint", "double precision", "boolean") and isinstance(value, (int, float)):
        value = str(value).lower()
    if not isinstance(value, str):
        raise ValueProblem("a value of the column's type")
    return from_query(field, value)
