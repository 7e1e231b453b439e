"""Property: hostile text anywhere in a list query is a 400 problem or a correct result, never a 500.

Random strings (unicode, quotes, semicolons, comment markers, NUL bytes, huge numbers, the
injection catalogue of shared/research/reliability-anchors.md section 4.1) go into one slot of a
list request at a time: a field name, an operator, a filter value, sort, fields, limit or cursor,
next to valid filters. Whatever the engine answers:

- it is 200 or 400, nothing else (414 when the request line is over the limit);
- a 400 is problem+json whose text holds no SQL, driver or traceback text;
- a 200 happens only when the reference parser (the documented grammar: Python's int, float and
  ISO 8601 parsers, UUIDs, JSON) accepts the input too, and then the rows equal the reference result.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime
from typing import Any

import orjson
import pytest
from hypothesis import strategies as st
from load.bridge import check_property
from load.query_model import (
    KINDS,
    OPERATORS,
    SCHEMA,
    SPEC,
    filters,
    normalized,
    page_through,
    query_params,
    reference,
)
from yarl import URL

MAX_PAGE = 40
HTTP_LINE_LIMIT = 8190  # ENGINE_MAX_LINE_SIZE's default: a longer request line is a 414 from the parser
_TEXT_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "is", "like", "ilike")
# The engine's grammar: every operator a column type accepts (OPERATORS holds the decidable subset).
ENGINE_OPERATORS = {**OPERATORS, "ascii": _TEXT_OPERATORS, "unicode": _TEXT_OPERATORS}
# Text only the engine's SQL, the driver or a traceback would produce (generated input never holds it).
LEAK_MARKERS = ('"things"', "$1", "asyncpg", "sqlglot", "traceback", "syntax error", "sqlstate", "invalid input syntax")
PROBLEM_KEYS = {"type", "title", "status", "detail", "request_id", "parameter", "errors"}

CATALOGUE = [
    'name"--',
    "name;DROP TABLE things",
    "name)",
    "1=1",
    "(select 1)",
    "word::text",
    "WORD",
    "w\u043erd",  # Cyrillic o
    "word\x00",
    "word%00",
    "__proto__",
    "a.b.c",
    "eq;",
    "eqq",
    "EQ",
    "=",
    "' OR '1'='1",
    "like)",
    "",
    "not.not.not.eq",
    "1; SELECT pg_sleep(5)",
    "1) OR (1=1",
    "$$",
    "\\",
    "E'\\\\x'",
    "\u202eevil",
    "e\u0301",
    "9223372036854775808",
    "-9223372036854775809",
    "-0",
    "1e309",
    "NaN",
    "Infinity",
    "9" * 5000,
    "0x10",
    "1_000",
    "infinity",
    "0000-00-00",
    "2024-02-30T00:00:00Z",
    "2024-01-01T24:00:00+15:00",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "2024-01-01T00:00:00",
    "word desc nulls first; --",
    "word, (select pg_sleep(5))",
    ",".join(["word"] * 100),
    '{"a": "\\u0000"}',
    '"\\ud800"',
    '{"a": 1e400}',
    "[" * 5000,
    "x" * 10000,
]
SQLISH = st.text(st.sampled_from(list("'\";-/*()$\\%_ =<>|,.[]{}:\x00") + list("aeqsdlt0159")), max_size=20)
HOSTILE = st.one_of(
    st.sampled_from(CATALOGUE),
    SQLISH,
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.integers(-(10**30), 10**30).map(str),
).filter(lambda s: not any(m in s.lower() for m in LEAK_MARKERS))

ROWS = [
    {"rank": 0},
    {"rank": 1, "word": "abc", "label": "o'hara", "num": 2**63 - 1, "ratio": -0.0, "flag": True},
    {"rank": 2, "word": "", "label": "; --", "num": -(2**63), "ratio": 1e308, "flag": False, "doc": {"a": [1, "x"]}},
    {"rank": 3, "word": "b", "label": "日本", "num": 0, "at": "1999-12-31T23:59:59.999999+05:30", "doc": {"b": None}},
    {"rank": 4, "word": "ab", "label": "x%_\\y", "ref": str(uuid.UUID(int=1)), "at": "2030-01-01T00:00:00+00:00"},
    {"rank": 0, "word": "e", "label": "", "num": 7, "ratio": 0.5, "flag": None, "doc": {"a": {"b": True}}},
]


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "thing.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "resources.yaml").write_text(SPEC)
    return str(tmp_path / "resources.yaml")


# --- the reference parser: which inputs are valid, and what they mean ----------------------------


class Invalid(Exception):
    pass


def _typed(kind: str, text: str) -> Any:
    """A query-string value parsed by the documented grammar of its column type; Invalid if not."""
    if "\x00" in text:
        raise Invalid
    try:
        if kind in ("ascii", "unicode"):
            return text
        if kind == "int":
            value = int(text, 10)
            if not -(2**63) <= value < 2**63:
                raise Invalid
            return value
        if kind == "float":
            value = float(text)
            if not math.isfinite(value):
                raise Invalid
            return value
        if kind == "time":
            value = datetime.fromisoformat(text)
            if value.tzinfo is None:
                raise Invalid
            return value
        if kind == "uuid":
            return uuid.UUID(text)
        if kind == "bool":
            if text not in ("true", "false"):
                raise Invalid
            return text == "true"
        if kind == "json":
            return orjson.loads(text)
    except (ValueError, OverflowError):
        raise Invalid from None
    raise AssertionError(kind)


def _plain_json(value: Any) -> bool:
    """JSON whose containment the reference decides exactly like jsonb (no floats, no NUL)."""
    if isinstance(value, dict):
        return all(_plain_json(k) and _plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    if isinstance(value, str):
        return "\x00" not in value
    return not isinstance(value, float)


def interpret(params: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The query the parameters mean, or None where the reference grammar refuses them."""
    query: dict[str, Any] = {"filters": [], "sort": [], "fields": None, "limit": None}
    seen: set[str] = set()
    try:
        for key, text in params:
            if key in ("sort", "fields", "limit", "cursor", "include"):
                if key in seen or key in ("cursor", "include"):
                    raise Invalid  # a cursor must come from a previous page; this resource has no relations
                seen.add(key)
                _reserved(query, key, text)
            else:
                query["filters"].append(_filter(key, text))
    except Invalid:
        return None
    return query


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise Invalid
    return names


def _reserved(query: dict[str, Any], key: str, text: str) -> None:
    if key == "limit":
        try:
            query["limit"] = int(text)
        except ValueError:
            raise Invalid from None
        if not 1 <= query["limit"] <= MAX_PAGE:
            raise Invalid
    elif key == "fields":
        names = _names(text)
        if any(n not in KINDS for n in names):
            raise Invalid
        query["fields"] = list(dict.fromkeys(names))
    else:
        sort = [(n.lstrip("-"), n.startswith("-")) for n in _names(text)]
        fields = [f for f, _ in sort]
        if any(f not in KINDS or KINDS[f] == "json" for f in fields) or len(set(fields)) != len(fields):
            raise Invalid
        query["sort"] = sort


def _filter(key: str, text: str) -> tuple[str, str, Any]:
    name, _, rest = key.partition("[")
    op = rest[:-1] if rest.endswith("]") else ("eq" if not rest else None)
    if name not in KINDS or key != (f"{name}[{op}]" if rest else name) or op is None:
        raise Invalid
    kind = KINDS[name]
    if op not in ENGINE_OPERATORS[kind]:
        raise Invalid
    if op == "is":
        if text not in (("null", "not_null", "true", "false") if kind == "bool" else ("null", "not_null")):
            raise Invalid
        return name, op, text
    if op in ("like", "ilike"):
        if "\x00" in text:
            raise Invalid
        return name, op, text
    if op == "in":
        items = text.split(",")
        if len(items) > 100:
            raise Invalid
        return name, op, [_typed(kind, item) for item in items]
    return name, op, _typed(kind, text)


def _decidable(query: dict[str, Any]) -> bool:
    """Whether the reference decides the result exactly (see the module docstring of query_model)."""
    for name, op, value in query["filters"]:
        if KINDS[name] == "json" and not _plain_json(value):
            return False
        if KINDS[name] in ("ascii", "unicode") and op in ("lt", "lte", "gt", "gte"):
            return False  # ordering of arbitrary text depends on the collation
        if op == "ilike" and not value.isascii():
            return False  # case folding of non-ASCII letters depends on the locale
    return not any(KINDS[f] == "unicode" for f, _ in query["sort"])


# --- hostile requests -----------------------------------------------------------------------------


@st.composite
def hostile_requests(draw) -> list[tuple[str, str]]:
    drawn = draw(st.lists(filters(ROWS), max_size=2))
    valid = query_params({"filters": drawn, "sort": [], "fields": None, "limit": None})
    field = draw(st.sampled_from(sorted(KINDS)))
    bad = draw(HOSTILE)
    slot = draw(st.sampled_from(["name", "operator", "value", "sort", "fields", "limit", "cursor"]))
    if slot == "name":
        hostile = (bad + draw(st.sampled_from(["", "[eq]"])), draw(st.sampled_from(["x", bad])))
    elif slot == "operator":
        hostile = (f"{field}[{bad}]", "x")
    elif slot == "value":
        hostile = (f"{field}[{draw(st.sampled_from(OPERATORS[KINDS[field]]))}]", bad)
    else:
        hostile = (slot, bad)
    position = draw(st.integers(0, len(valid)))
    return [*valid[:position], hostile, *valid[position:]]


def assert_clean_problem(result, params) -> None:
    text = result.text.lower()
    leaks = [m for m in LEAK_MARKERS if m in text]
    assert not leaks, (params, leaks, text)
    assert result.headers["Content-Type"].startswith("application/problem+json"), params
    body = result.json
    assert set(body) <= PROBLEM_KEYS, (params, body)
    assert body["status"] == result.status


def too_long(params: list[tuple[str, str]]) -> bool:
    """Whether the request line is over the limit (refused by the HTTP parser with a 414)."""
    return len(URL.build(path="/api/things", query=params).raw_path_qs) > HTTP_LINE_LIMIT


async def check_request(client, stored: list[dict[str, Any]], params: list[tuple[str, str]]) -> None:
    result = await client.get("/api/things", params=params)
    assert result.status in ((414,) if too_long(params) else (200, 400)), (params, result.status, result.text[:2000])
    if result.status in (400, 414):
        assert_clean_problem(result, params)
        return
    meaning = interpret(params)
    assert meaning is not None, f"the engine accepted what the grammar refuses: {params}"
    if _decidable(meaning):
        rows = await page_through(client, params, meaning["limit"] or 5)
        assert normalized(rows) == normalized(reference(stored, meaning)), params


async def _store_rows(client) -> list[dict[str, Any]]:
    stored = []
    for row in ROWS:
        created = await client.post("/api/things", json=row)
        assert created.status == 201, created.text
        stored.append(created.json["data"])
    return stored


def catalogue_requests() -> list[list[tuple[str, str]]]:
    """Every catalogue payload in every slot: name, operator and value of every field, and each
    reserved parameter."""
    requests = []
    for bad in CATALOGUE:
        requests.append([(bad, "x")])
        for slot in ("sort", "fields", "limit", "cursor"):
            requests.append([(slot, bad)])
        for field, kind in KINDS.items():
            requests.append([(f"{field}[{bad}]", "x")])
            requests.extend([(f"{field}[{op}]", bad)] for op in ENGINE_OPERATORS[kind])
    return requests


async def test_hostile_query_strings_are_a_400_or_the_correct_rows(api):
    alice = await api.as_user("alice")
    stored = await _store_rows(alice)
    examples = await check_property(hostile_requests(), lambda params: check_request(alice, stored, params))
    print(f"{examples} hostile requests")


async def test_injection_catalogue_in_every_slot_is_a_400_or_the_correct_rows(api):
    alice = await api.as_user("alice")
    stored = await _store_rows(alice)
    requests = catalogue_requests()
    for params in requests:
        await check_request(alice, stored, params)
    print(f"{len(requests)} catalogue requests ({len(CATALOGUE)} payloads)")
    assert len(requests) > 50 * len(CATALOGUE)
