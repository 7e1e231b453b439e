"""Property: any request body is a clean 4xx or a stored row equal to what was sent, never a 500.

Bodies are drawn two ways: JSON documents mixing the resource's fields with hostile keys and
values (NUL characters, huge numbers, deep nesting, server-owned fields, unknown keys), and raw
texts that are not quite JSON (duplicate keys, NaN, lone surrogate escapes, a BOM, invalid UTF-8,
unbalanced brackets). Each is sent as a create, and as an update of an existing row:

- the answer is 2xx, 400, 413, 415 or 422, and a 4xx is problem+json with no SQL, driver or
  traceback text;
- a 2xx stored exactly the fields sent: reading the row back gives the same values.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import pytest
from hypothesis import strategies as st
from load.bridge import check_property
from load.query_model import ROWS, SCHEMA, SPEC

ACCEPTED = {200, 201, 400, 413, 415, 422}
LEAK_MARKERS = ('"things"', "$1", "asyncpg", "sqlglot", "traceback", "syntax error", "sqlstate")
FIELDS = tuple(SCHEMA["properties"])

HOSTILE_KEYS = st.one_of(
    st.sampled_from(["id", "owner_id", "created_at", "updated_at", "Word", "word ", "wor\x00d", "__proto__", ""]),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
)
HOSTILE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(["\x00", "a\x00b", "' OR '1'='1", "9" * 400, "2024-02-30T00:00:00Z", "infinity"]),
)
HOSTILE_VALUES = st.recursive(
    HOSTILE_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(HOSTILE_KEYS, inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def documents(draw) -> bytes:
    """A JSON object: a valid row, changed by some hostile keys and values."""
    body = dict(draw(ROWS))
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.one_of(st.sampled_from(FIELDS), HOSTILE_KEYS))
        body[key] = draw(HOSTILE_VALUES)
    return json.dumps(body).encode()


RAW = st.sampled_from(
    [
        b'{"rank": 1, "rank": 2}',
        b'{"rank": NaN}',
        b'{"rank": Infinity}',
        b'{"rank": 1e400}',
        b'{"rank": 1, "word": "\\ud800"}',
        b'{"rank": 1, "word": "\\u0000"}',
        b'{"rank": 1, "doc": {"\\u0000": 1}}',
        b"\xef\xbb\xbf{" + b'"rank": 1}',
        b'{"rank": 1, "word": "\xff\xfe"}',
        b'{"rank": 1',
        b"[" * 2000 + b"]" * 2000,
        b'{"rank": 1, "doc": ' + b'{"a": ' * 100 + b"1" + b"}" * 100 + b"}",
        b"null",
        b"[]",
        b'"rank"',
        b"",
        b" ",
        b'{"rank": ' + b"9" * 5000 + b"}",
        b'{"rank": 9223372036854775808}',
        b'{"rank": -9223372036854775809}',
        b'{"rank": 1.5}',
        b'{"rank": true}',
        b'{"rank": "1"}',
        b'{"rank": 1, "at": "0001-01-01T00:00:00+05:00"}',
        b'{"rank": 1, "at": "9999-12-31T23:59:59-05:00"}',
        b'{"rank": 1, "at": "2024-01-01T00:00:00"}',
        b'{"rank": 1, "ref": "not-a-uuid"}',
    ]
)
BODIES = st.one_of(documents(), RAW, st.binary(max_size=64))


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "thing.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "resources.yaml").write_text(SPEC)
    return str(tmp_path / "resources.yaml")


def _same(sent: Any, stored: Any) -> bool:
    if isinstance(sent, float) or isinstance(stored, float):
        return isinstance(stored, (int, float)) and math.isclose(sent, stored, rel_tol=0, abs_tol=0)
    if isinstance(sent, str) and isinstance(stored, str) and sent != stored:
        try:  # date-times come back in UTC, uuids in lowercase
            return datetime.fromisoformat(sent) == datetime.fromisoformat(stored)
        except ValueError:
            return sent.lower() == stored.lower()
    return sent == stored


async def _check(client, method: str, path: str, raw: bytes) -> None:
    result = await client.request(method, path, data=raw, headers={"Content-Type": "application/json"})
    assert result.status in ACCEPTED, (method, raw[:300], result.status, result.text[:2000])
    if result.status >= 400:
        assert result.headers["Content-Type"].startswith("application/problem+json"), raw[:300]
        leaks = [m for m in LEAK_MARKERS if m in result.text.lower()]
        assert not leaks, (raw[:300], leaks, result.text[:2000])
        return
    sent = json.loads(raw)
    if isinstance(sent, list):  # a JSON array posted is a bulk create: every item stored as sent, in order
        assert method == "POST" and len(result.json["data"]) == len(sent), (raw[:300], result.text[:2000])
        pairs = list(zip(sent, result.json["data"], strict=True))
    else:
        pairs = [(sent, result.json["data"])]
    for item, answered in pairs:
        row = (await client.get(f"/api/things/{answered['id']}")).json["data"]
        for name, value in item.items():
            assert _same(value, row[name]), (name, value, row[name])


async def test_any_body_is_a_clean_4xx_or_stored_as_sent(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/things", json={"rank": 0})
    assert created.status == 201
    existing = f"/api/things/{created.json['data']['id']}"

    async def check(raw: bytes) -> None:
        await _check(alice, "POST", "/api/things", raw)
        await _check(alice, "PATCH", existing, raw)

    examples = await check_property(BODIES, check)
    print(f"{examples} bodies, each sent as a create and as an update")
