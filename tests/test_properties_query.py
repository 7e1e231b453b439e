"""Property: a list query returns exactly what a plain-Python reference returns on the same rows.

Random rows go in through the API (as alice, plus a few as bob that alice must never see); random
filters (every operator of every column type), sorts (multi-key, mixed directions, nullable
columns), projections and page sizes come out, paged with cursors to the end. The concatenated
pages must equal the reference filter + sort + projection, row for row.

Reference semantics (the engine's contract, written out in Python):
- a comparison with NULL is unknown, so the row is dropped: eq, lt, lte, gt, gte, in, like, ilike,
  contains never match NULL; ``ne`` is IS DISTINCT FROM, so NULL matches ``ne`` of any value;
- ``is`` takes null / not_null (any nullable column) and true / false (booleans: IS TRUE / IS FALSE);
- like / ilike: ``*`` is the only wildcard, every other character (``%``, ``_``, ``\\``) is literal;
- jsonb ``contains`` is PostgreSQL's ``@>`` (objects by key, arrays as sets, scalars by value);
- order: ASC NULLS LAST and DESC NULLS FIRST per key; ties are broken by the primary key in the
  direction of the last sort key (the engine appends it unless the sort names it);
- pages: every page but the last is full, the last one says ``next_cursor: null``.

Text that is compared by order (lt/gt, sort) is limited to lowercase ASCII letters, so the result
does not depend on the database's collation; the unicode column (``label``) is checked with the
operators whose result does not depend on collation (eq, ne, in, like, is). ilike runs on the ASCII
column: case folding of non-ASCII letters is locale-dependent in PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from load.bridge import check_property
from load.query_model import SCHEMA, SPEC, cases, normalized, page_through, query_params, reference


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "thing.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "resources.yaml").write_text(SPEC)
    return str(tmp_path / "resources.yaml")


async def test_list_queries_return_exactly_the_reference_rows(api):
    alice = await api.as_user("alice")
    bob = await api.as_user("bob")

    async def check(case: dict[str, Any]) -> None:
        await api.sql("DELETE FROM things")
        stored = []
        for row in case["rows"]:
            created = await alice.post("/api/things", json=row)
            assert created.status == 201, created.text
            stored.append(created.json["data"])
        for row in case["foreign"]:
            assert (await bob.post("/api/things", json=row)).status == 201
        for query in case["queries"]:
            got = await page_through(alice, query_params(query), query["limit"] or 5)
            assert normalized(got) == normalized(reference(stored, query)), query_params(query)

    examples = await check_property(cases(), check)
    print(f"{examples} examples, each with up to 16 rows and 4 queries paged to the end")
