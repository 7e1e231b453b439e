"""Values between JSON and PostgreSQL column types, in both directions of a request.

`from_json` turns a validated body value into what asyncpg binds for the column; `from_query`
parses a query-string value by column type and says precisely what was wrong.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from engine.spec import Field
from engine.spec.types import BIGINT_MAX, BIGINT_MIN


class ValueProblem(ValueError):
    """A value that does not parse as its column's type; the message completes 'expected ...'."""


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueProblem("an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z") from None
    if value.tzinfo is None:
        raise ValueProblem("a date-time with a time zone (add Z or +00:00)")
    try:
        value.astimezone(UTC)  # what the database driver does; years past 9999 in UTC overflow
    except OverflowError:
        raise ValueProblem("a date-time between the years 1 and 9999 in UTC") from None
    return value


def from_json(field: Field, value: Any) -> Any:
    if value is None:
        return None
    kind = field.sql_type
    if kind == "timestamptz":
        return _timestamp(value)
    if kind == "double precision":
        return float(value)
    if kind == "uuid":
        return uuid.UUID(value) if isinstance(value, str) else value
    return value


# The form every client sends (and PostgreSQL writes): kept as text, bound as is. Parsing it into
# uuid.UUID only for the driver to write it back out cost ~3 us on every request by id.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def from_query(field: Field, text: str) -> Any:
    """Parse one query-string value for `field`; raises ValueProblem."""
    if "\x00" in text:
        raise ValueProblem("a value without NUL characters")
    kind = field.sql_type
    if kind == "text":
        return text
    if kind == "uuid":
        if _CANONICAL_UUID.fullmatch(text):
            return text
        try:  # braces, capitals, no hyphens ...: what uuid.UUID accepts, in the canonical form
            return str(uuid.UUID(text))
        except ValueError:
            raise ValueProblem("a UUID") from None
    if kind == "bigint":
        try:
            number = int(text, 10)
        except ValueError:
            raise ValueProblem("an integer") from None
        if not BIGINT_MIN <= number <= BIGINT_MAX:
            raise ValueProblem("an integer within the 64-bit range")
        return number
    if kind == "double precision":
        try:
            number = float(text)
        except ValueError:
            raise ValueProblem("a number") from None
        if not math.isfinite(number):
            raise ValueProblem("a finite number")
        return number
    if kind == "boolean":
        if text in ("true", "false"):
            return text == "true"
        raise ValueProblem("true or false")
    if kind == "timestamptz":
        return _timestamp(text)
    if kind == "jsonb":
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ValueProblem("a JSON document") from None
        if _has_nul(document):  # a \u0000 escape: PostgreSQL's jsonb cannot hold it
            raise ValueProblem("a JSON document without \\u0000 in its strings")
        return document
    raise ValueProblem(f"a value of type {kind}")


def _has_nul(document: Any) -> bool:
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def to_json(field: Field, value: Any) -> Any:
    """A stored value in its JSON form (for cursors and comparisons)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
