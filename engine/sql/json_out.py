"""JSON written by PostgreSQL: response bytes exactly as orjson writes them, and rows for orjson to read.

Two uses (issue 18's JSON lever, bench/RESULTS.md):
- `row_json`, the response object of a projection in its order, byte for byte what `orjson.dumps`
  writes for the values asyncpg decodes (engine.http.json_reads: a read by id of exact fields);
- `json_array` of `json_field`s, a row as one JSON text that orjson reads back, in one call, as
  values that write those same bytes (included rows, engine.features.relations).

For `row_json`, each column type has a text expression of exactly orjson's bytes. PostgreSQL's own builders
are not compact (`json_build_object` writes `{"a" : 1, "b" : 2}`, `json_agg` puts ", " and a
newline between elements), so the object is concatenated text around each value's `to_json`.

- text, uuid, bigint, boolean: `to_json` writes orjson's bytes.
- timestamptz: `to_json` trims trailing zeros of the fraction (`.12`) and follows the session time
  zone; here `to_char` in UTC with six fraction digits or none, and `+00:00`, as orjson writes.
- double precision: PostgreSQL prints the same shortest round-trip digits as orjson, laid out
  differently (`100`, `1e-05`, `1.234567890123456e+15`); here orjson's layout (`100.0`, `0.00001`,
  `1234567890123456.0`, `1e+16`); NaN and the infinities are `null`, as orjson writes them.
- jsonb: not exact. PostgreSQL writes it with a space after `:` and `,` and keeps numbers as
  stored (`1.50`), where today's path re-encodes them as floats (`1.5`); only decoding makes the
  bytes equal. `exact()` tells whether a projection has no such column.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
import sqlglot
from sqlglot import exp

from engine.spec import Resource
from engine.sql.outputs import shown

EXACT = frozenset({"text", "uuid", "bigint", "boolean", "timestamptz", "double precision"})
VALUE = "__value__"  # the placeholder column the templates below are written around

# The text orjson writes for the datetime asyncpg decodes from a timestamptz: UTC, six fraction
# digits or none; 'infinity' and '-infinity' as asyncpg reads them (datetime.max and datetime.min,
# which have no offset). A field for the engine to read back (`json_field`) is this text; a response
# value (`json_value`) is its JSON.
_TIMESTAMP_FIELD = f"""
CASE WHEN {VALUE} IS NULL THEN NULL
     WHEN isfinite({VALUE})
     THEN replace(to_char({VALUE} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '.000000', '') || '+00:00'
     WHEN {VALUE} = 'infinity'::timestamptz THEN '9999-12-31T23:59:59.999999'
     ELSE '0001-01-01T00:00:00' END
"""
_TIMESTAMP = f"to_json({_TIMESTAMP_FIELD})::text"

# PostgreSQL prints a double's shortest round-trip digits, except for whole numbers between 2^53
# and 2^63, which it prints with all their digits (1.3372367548449101e+17 where orjson writes
# 1.33723675484491e+17). For those, the shortest rounding of the exact integer that reads back as
# the same double (the closest one at that length: the rule orjson and Python follow).
_SHORTEST = f"""
CASE WHEN abs({VALUE}) >= 9007199254740992 AND abs({VALUE}) < 9223372036854775808
          AND {VALUE} = trunc({VALUE})
     THEN (SELECT _jo_c::text FROM (
             SELECT _jo_p,
                    round({VALUE}::bigint::numeric, _jo_p - 1 - floor(log(abs({VALUE}::bigint::numeric)))::int)
                    AS _jo_c
             FROM generate_series(1, 17) AS _jo_p) AS _jo_tries
           WHERE _jo_c::float8 = {VALUE} ORDER BY _jo_p LIMIT 1)
     ELSE {VALUE}::text END
"""

# Split that text into sign, digits and the decimal point's position (the value is
# 0.<digits> x 10^point), then lay it out as orjson does: plain up to 16 integer digits (with ".0"
# when integral), "0.000ddd" down to 1e-5, scientific beyond ("1e+16", "1.5e-7"). OFFSET 0 keeps
# the planner from pulling the steps up into copies of the regular expression at every use.
_DOUBLE = rf"""
CASE WHEN {VALUE} IS NULL OR {VALUE} IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)
     THEN 'null' ELSE (
  SELECT (CASE
    WHEN _jo_digits = '' THEN _jo_sign || '0.0'
    WHEN _jo_point BETWEEN _jo_count AND 16
         THEN _jo_sign || _jo_digits || repeat('0', _jo_point - _jo_count) || '.0'
    WHEN _jo_point BETWEEN 1 AND 16
         THEN _jo_sign || left(_jo_digits, _jo_point) || '.' || substr(_jo_digits, _jo_point + 1)
    WHEN _jo_point > -5 AND _jo_point <= 0 THEN _jo_sign || '0.' || repeat('0', -_jo_point) || _jo_digits
    ELSE _jo_sign || left(_jo_digits, 1) || (CASE WHEN _jo_count > 1 THEN '.' || substr(_jo_digits, 2) ELSE '' END)
         || 'e' || (CASE WHEN _jo_point >= 1 THEN '+' ELSE '-' END) || abs(_jo_point - 1)::text
  END)
  FROM (SELECT _jo_sign, _jo_digits, length(_jo_digits) AS _jo_count,
               length(_jo_int) + _jo_exp - (length(_jo_raw) - length(ltrim(_jo_raw, '0'))) AS _jo_point
        FROM (SELECT _jo_m[1] AS _jo_sign, _jo_m[2] AS _jo_int, _jo_m[2] || coalesce(_jo_m[3], '') AS _jo_raw,
                     rtrim(ltrim(_jo_m[2] || coalesce(_jo_m[3], ''), '0'), '0') AS _jo_digits,
                     coalesce(_jo_m[4]::int, 0) AS _jo_exp
              FROM (SELECT regexp_match({_SHORTEST}, '^(-?)([0-9]+)(?:\.([0-9]+))?(?:e([-+][0-9]+))?$') AS _jo_m
                    OFFSET 0) AS _jo_parts
              OFFSET 0) AS _jo_split
        OFFSET 0) AS _jo_laid)
END
"""


@cache
def _template(sql_type: str) -> exp.Expression | None:
    text = {"timestamptz": _TIMESTAMP, "double precision": _DOUBLE}.get(sql_type)
    return None if text is None else sqlglot.parse_one(text, read="postgres")


def json_value(value: exp.Expression, sql_type: str) -> exp.Expression:
    """The JSON text orjson would write for `value` (a column of `sql_type`); `null` for NULL."""
    template = _template(sql_type)
    if template is None:
        text = exp.cast(value.copy(), "text") if sql_type == "jsonb" else _to_json_text(value)
        return exp.func("coalesce", text, exp.Literal.string("null"))

    built = _filled(template, value)
    return built if sql_type == "double precision" else exp.func("coalesce", built, exp.Literal.string("null"))


# A double as a JSON number that reads back as the same float: PostgreSQL prints its shortest
# round-trip digits, without a point when whole ("5"), which would read back as an int.
_DOUBLE_FIELD = f"""
CASE WHEN {VALUE} IS NULL OR {VALUE} IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8) THEN NULL
     WHEN {VALUE}::text ~ '[.e]' THEN {VALUE}::text::json
     ELSE ({VALUE}::text || '.0')::json END
"""


@cache
def _field_template(sql_type: str) -> exp.Expression | None:
    text = {"timestamptz": _TIMESTAMP_FIELD, "double precision": _DOUBLE_FIELD}.get(sql_type)
    return None if text is None else sqlglot.parse_one(text, read="postgres")


def json_field(value: exp.Expression, sql_type: str) -> exp.Expression:
    """`value` (a column of `sql_type`) as a field of a record PostgreSQL writes as JSON, such that
    orjson reads it back as a value the response writes exactly as it writes what asyncpg decodes
    from the column: a timestamp as orjson's text of it, a double as a float (NaN and the
    infinities as null, as orjson writes them), jsonb as its JSON; the other types as they are.

    Included rows travel this way (engine.features.relations): one JSON text per include that
    orjson reads in one call, where an array of records cost asyncpg a decode per field.
    Relies on PostgreSQL's default `extra_float_digits` (1: shortest exact digits since PostgreSQL 12)."""
    template = _field_template(sql_type)
    if template is None:
        return value

    return _filled(template, value)


def _filled(template: exp.Expression, value: exp.Expression) -> exp.Expression:
    """`template` with `value` in place of its placeholder column."""

    def put(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name == VALUE and not node.table:
            return value.copy()
        return node

    return template.copy().transform(put)


ARGUMENTS = 100  # PostgreSQL's FUNC_MAX_ARGS: at most this many arguments to json_build_array


def json_array(fields: list[exp.Expression]) -> exp.Expression:
    """`json_build_array(<fields>)`, the fields of one row (each a `json_field`) as one JSON text:
    orjson reads a row in one call where asyncpg decodes every field on its own (bench/RESULTS.md,
    "included rows as one JSON text per include"). A row of more than 100 fields is an array of
    arrays of at most 100 each (`flattened` reads it back)."""
    if len(fields) <= ARGUMENTS:
        return exp.Anonymous(this="json_build_array", expressions=fields)
    chunks = [fields[i : i + ARGUMENTS] for i in range(0, len(fields), ARGUMENTS)]
    return exp.Anonymous(
        this="json_build_array", expressions=[exp.Anonymous(this="json_build_array", expressions=c) for c in chunks]
    )


def flattened(rows: list[list[Any]], count: int) -> list[list[Any]]:
    """The rows of `json_array` over `count` fields, read back, as their values in order."""
    if count <= ARGUMENTS:
        return rows
    return [[value for chunk in row for value in chunk] for row in rows]


def _to_json_text(value: exp.Expression) -> exp.Expression:
    return exp.cast(exp.Anonymous(this="to_json", expressions=[value.copy()]), "text")


def row_json(resource: Resource, fields: tuple[str, ...], table_name: str | None = None) -> exp.Expression:
    """The text `{"f1":<f1>,...}` over `fields` in their order, secrets masked as every statement
    masks them (engine.sql.outputs). Key names are escaped here, once, by orjson itself."""
    parts: list[exp.Expression] = []
    for i, name in enumerate(fields):
        key = ("{" if i == 0 else ",") + orjson.dumps(name).decode() + ":"
        value = json_value(shown(resource, name, table_name), resource.fields[name].sql_type)
        parts += [exp.Literal.string(key), value]
    parts.append(exp.Literal.string("}" if fields else "{}"))
    body = parts[0]
    for part in parts[1:]:
        body = exp.DPipe(this=body, expression=part, safe=True)
    return body


def exact(resource: Resource, fields: tuple[str, ...]) -> bool:
    """True when the database can write these fields' JSON byte for byte (no jsonb among them)."""
    return all(resource.fields[name].sql_type in EXACT for name in fields)
