"""The list query language's reference model: a test resource, strategies, and plain-Python semantics.

Used by the property tests (tests/test_properties_*.py): rows and queries are drawn from the
strategies here, sent to the engine, and compared with ``reference`` on the same rows.
See tests/test_properties_query.py for the semantics written out in words.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["rank"],
    "properties": {
        "id": {"type": "string", "format": "uuid", "readOnly": True},
        "owner_id": {"type": "string"},
        "word": {"type": ["string", "null"]},
        "label": {"type": ["string", "null"]},
        "num": {"type": ["integer", "null"]},
        "rank": {"type": "integer"},
        "ratio": {"type": ["number", "null"]},
        "flag": {"type": ["boolean", "null"]},
        "at": {"type": ["string", "null"], "format": "date-time"},
        "ref": {"type": ["string", "null"], "format": "uuid"},
        "doc": {"type": ["object", "null"]},
    },
}
SPEC = """\
version: 1
settings: {page_size: 5, max_page_size: 40, rate_limit: "off"}
resources:
  things:
    schema: schemas/thing.json
    owner: owner_id
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
"""
# column -> kind used by the reference; "ascii" and "unicode" are both PostgreSQL text.
KINDS = {
    "id": "uuid",
    "owner_id": "ascii",
    "word": "ascii",
    "label": "unicode",
    "num": "int",
    "rank": "int",
    "ratio": "float",
    "flag": "bool",
    "at": "time",
    "ref": "uuid",
    "doc": "json",
    "created_at": "time",
    "updated_at": "time",
}
OPERATORS = {
    "ascii": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "is", "like", "ilike"),
    "unicode": ("eq", "ne", "in", "is", "like"),
    "int": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "is"),
    "float": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "is"),
    "time": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "is"),
    "uuid": ("eq", "ne", "in", "is"),
    "bool": ("eq", "ne", "is"),
    "json": ("contains", "is"),
}
FILTERABLE = ("word", "label", "num", "rank", "ratio", "flag", "at", "ref", "doc", "id", "created_at")
SORTABLE = ("word", "num", "rank", "ratio", "flag", "at", "ref", "id", "created_at", "updated_at")
PROJECTABLE = tuple(KINDS)


# --- strategies ---------------------------------------------------------------------------------

ASCII = "abcde"
UNICODE = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
BIG_INTS = st.sampled_from([-(2**63), 2**63 - 1, -(2**53) - 1, 2**53 + 1, 0, -1, 1])
INTS = st.one_of(BIG_INTS, st.integers(-(2**63), 2**63 - 1), st.integers(-3, 3))
FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, 0.5, -1.5, 1e308, -1e-308, 5e-324]),
    st.floats(allow_nan=False, allow_infinity=False),
)
TIMES = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(ASCII + "é☃", max_size=3))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3)
    ),
    max_leaves=6,
)
DOCS = st.dictionaries(st.sampled_from(["a", "b", "c", "ü"]), JSON_VALUES, max_size=3)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


LABELS = ["", "o'hara", "a;b", "x%_\\y", "日本", "--", "*"]
ROWS = st.fixed_dictionaries(
    {
        "word": _maybe(st.text(ASCII, max_size=3)),
        "label": _maybe(
            st.one_of(st.sampled_from(["", "o'hara", "a;b", "x%_\\y", "日本"]), st.text(UNICODE, max_size=6))
        ),
        "num": _maybe(INTS),
        "rank": st.integers(0, 4),
        "ratio": _maybe(FLOATS),
        "flag": _maybe(st.booleans()),
        "at": _maybe(TIMES.map(lambda t: t.isoformat())),
        "ref": _maybe(st.uuids().map(str)),
        "doc": _maybe(DOCS),
    }
)


def _fresh_value(kind: str) -> st.SearchStrategy[Any]:
    return {
        "ascii": st.text(ASCII, max_size=3),
        "unicode": st.text(UNICODE, max_size=6),
        "int": INTS,
        "float": FLOATS,
        "time": TIMES,
        "uuid": st.uuids(),
        "bool": st.booleans(),
        "json": st.one_of(DOCS, st.lists(JSON_VALUES, max_size=2)),
    }[kind]


@st.composite
def _value(draw, kind: str, rows: list[dict[str, Any]], name: str) -> Any:
    """A value of the column's kind: often one that is stored, so filters hit as well as miss."""
    stored = [parse(kind, r[name]) for r in rows if r.get(name) is not None]
    if stored and draw(st.booleans()):
        value = draw(st.sampled_from(stored))
        if kind == "json":  # a sub-document of a stored one, so `contains` matches
            value = {k: v for k, v in value.items() if draw(st.booleans())}
        return value
    return draw(_fresh_value(kind))


def _pattern(draw, kind: str, rows: list[dict[str, Any]], name: str) -> str:
    stored = [r[name] for r in rows if r.get(name) is not None]
    base = (
        draw(st.sampled_from(stored)) if stored and draw(st.booleans()) else draw(st.text(ASCII + "%_\\", max_size=3))
    )
    chars = [c if not draw(st.integers(0, 3)) == 0 else "*" for c in base]
    if kind == "ascii" and draw(st.booleans()):
        chars = [c.upper() for c in chars]
    return "".join(chars) + draw(st.sampled_from(["", "*"]))


@st.composite
def filters(draw, rows: list[dict[str, Any]]) -> tuple[str, str, Any]:
    name = draw(st.sampled_from(FILTERABLE))
    kind = KINDS[name]
    op = draw(st.sampled_from(OPERATORS[kind]))
    if op == "is":
        return (
            name,
            op,
            draw(st.sampled_from(["null", "not_null", "true", "false"] if kind == "bool" else ["null", "not_null"])),
        )
    if op in ("like", "ilike"):
        return name, op, _pattern(draw, kind, rows, name)
    if op == "in":
        values = draw(st.lists(_value(kind, rows, name), min_size=1, max_size=4))
        if kind in ("ascii", "unicode"):
            values = [v.replace(",", "") for v in values]  # `in` splits its value on commas
        return name, op, values
    return name, op, draw(_value(kind, rows, name))


@st.composite
def queries(draw, rows: list[dict[str, Any]]) -> dict[str, Any]:
    sort_fields = draw(st.lists(st.sampled_from(SORTABLE), unique=True, max_size=3))
    return {
        "filters": draw(st.lists(filters(rows), max_size=3)),
        "sort": [(f, draw(st.booleans())) for f in sort_fields],
        "fields": draw(st.one_of(st.none(), st.lists(st.sampled_from(PROJECTABLE), min_size=1, unique=True))),
        "limit": draw(st.one_of(st.none(), st.integers(1, 40))),
    }


@st.composite
def cases(draw) -> dict[str, Any]:
    rows = draw(st.lists(ROWS, max_size=16))
    return {
        "rows": rows,
        "foreign": draw(st.lists(ROWS, max_size=2)),
        "queries": draw(st.lists(queries(rows), min_size=1, max_size=4)),
    }


# --- the reference --------------------------------------------------------------------------------


def parse(kind: str, value: Any) -> Any:
    """A JSON value (as the API returns it) as the Python value the reference compares."""
    if value is None:
        return None
    if kind == "time":
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if kind == "uuid":
        return uuid.UUID(str(value))
    if kind == "float":
        return float(value)
    return value


def as_query_text(kind: str, value: Any) -> str:
    if kind == "bool":
        return "true" if value else "false"
    if kind == "float":
        return repr(float(value))
    if kind == "time":
        return value.isoformat()
    if kind == "json":
        return json.dumps(value)
    return str(value)


def _same_json(a: Any, b: Any) -> bool:
    """Scalar equality as jsonb sees it: true is not 1."""
    return type(a) is type(b) and a == b


def jsonb_contains(left: Any, right: Any, top: bool = True) -> bool:
    """PostgreSQL's ``@>``; at the top level an array also contains a bare scalar."""
    if isinstance(right, dict):
        return isinstance(left, dict) and all(k in left and jsonb_contains(left[k], v, False) for k, v in right.items())
    if isinstance(right, list):
        return isinstance(left, list) and all(any(jsonb_contains(item, want, False) for item in left) for want in right)
    if isinstance(left, list):
        return top and any(_same_json(item, right) for item in left)
    return _same_json(left, right)


def _like(pattern: str, text: str, *, fold: bool) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, re.DOTALL | (re.IGNORECASE | re.ASCII if fold else 0)) is not None


def matches(row: dict[str, Any], name: str, op: str, value: Any) -> bool:
    kind = KINDS[name]
    x = parse(kind, row[name])
    if op == "is":
        return {"null": x is None, "not_null": x is not None, "true": x is True, "false": x is False}[value]
    if op == "ne":
        return x is None or x != value
    if x is None:
        return False
    if op == "eq":
        return x == value
    if op == "in":
        return x in value
    if op in ("like", "ilike"):
        return _like(value, x, fold=op == "ilike")
    if op == "contains":
        return jsonb_contains(x, value)
    return {"lt": x < value, "lte": x <= value, "gt": x > value, "gte": x >= value}[op]


def _compare(a: dict[str, Any], b: dict[str, Any], sort: list[tuple[str, bool]]) -> int:
    for name, descending in sort:
        x, y = parse(KINDS[name], a[name]), parse(KINDS[name], b[name])
        if x == y or (x is None and y is None):
            continue
        # ASC NULLS LAST == DESC NULLS FIRST reversed: NULL is the largest value.
        order = 1 if x is None else -1 if y is None else (1 if x > y else -1)
        return -order if descending else order
    return 0


def reference(rows: list[dict[str, Any]], query: dict[str, Any]) -> list[dict[str, Any]]:
    sort = list(query["sort"])
    if not any(name == "id" for name, _ in sort):
        sort.append(("id", sort[-1][1] if sort else False))
    kept = [r for r in rows if all(matches(r, n, op, v) for n, op, v in query["filters"])]
    kept.sort(key=functools.cmp_to_key(lambda a, b: _compare(a, b, sort)))
    fields = query["fields"] or list(KINDS)
    return [{f: r[f] for f in fields} for r in kept]


# --- talking to the engine ------------------------------------------------------------------------


def query_params(query: dict[str, Any]) -> list[tuple[str, str]]:
    params = []
    for name, op, value in query["filters"]:
        kind = KINDS[name]
        if op == "is" or op in ("like", "ilike"):
            text = value
        elif op == "in":
            text = ",".join(as_query_text(kind, v) for v in value)
        else:
            text = as_query_text(kind, value)
        params.append((f"{name}[{op}]", text))
    if query["sort"]:
        params.append(("sort", ",".join(("-" if d else "") + n for n, d in query["sort"])))
    if query["fields"]:
        params.append(("fields", ",".join(query["fields"])))
    if query["limit"] is not None:
        params.append(("limit", str(query["limit"])))
    return params


async def page_through(client, params: list[tuple[str, str]], limit: int) -> list[dict[str, Any]]:
    """Every row of a list, following next_cursor; checks the paging contract on the way."""
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        result = await client.get("/api/things", params=params + ([("cursor", cursor)] if cursor else []))
        assert result.status == 200, (params, result.status, result.text)
        page = result.json
        cursor = page["meta"]["next_cursor"]
        if cursor is not None:
            assert len(page["data"]) == limit, "a page before the last one is not full"
        rows.extend(page["data"])
        if cursor is None:
            return rows
    raise AssertionError("paging did not end")


def normalized(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Compare times as instants (the API answers in UTC) and uuids case-insensitively."""
    out = []
    for row in rows:
        out.append({k: (parse(KINDS[k], v) if KINDS[k] in ("time", "uuid") else v) for k, v in row.items()})
    return out
