"""Counts and full-text search stay on indexes on a realistically large table (100,000 agents).

The seed is tests/test_query_plans.py's: 1,000 users with 100 agents each, analyzed. A count is the
list's WHERE clause, so an owner's count reads the owner's index; a search reads the GIN index of
the vector group it matches (engine.sql.search), for an admin and for a team member alike.
"""

from __future__ import annotations

import asyncio

import pytest
from test_query_plans import seed

from engine.db.pool import connect
from engine.http.keys import POOL


@pytest.fixture
def engine_env(engine_env):
    return {**engine_env, "ENGINE_POOL_MIN_SIZE": "1", "ENGINE_POOL_SIZE": "1"}


async def statements(api, client, path: str) -> list[tuple[str, tuple]]:
    """Every SELECT on agents that answering GET `path` ran, with its arguments."""
    seen: list = []

    def log(record) -> None:
        if record.query.startswith("SELECT") and '"agents"' in record.query:
            seen.append((record.query, record.args))

    async with api.app[POOL].acquire() as conn:
        conn.add_query_logger(log)
    try:
        result = await client.get(path)
        assert result.status == 200, result.text
        await asyncio.sleep(0)
    finally:
        async with api.app[POOL].acquire() as conn:
            conn.remove_query_logger(log)
    return seen


async def plan_nodes(api, sql: str, args: tuple) -> list[tuple[str, str | None]]:
    """(node type, index name) of every plan node reading agents."""
    conn = await connect(api.database_url, schema=api.schema)
    try:
        plan = await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args)
    finally:
        await conn.close()
    nodes, stack = [], [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        if node.get("Relation Name") == "agents" or node.get("Index Name", "").startswith("agents"):
            nodes.append((node["Node Type"], node.get("Index Name")))
        stack.extend(node.get("Plans", []))
    return nodes


async def seeded(api) -> None:
    await seed(api)
    await api.sql(
        "UPDATE agents SET name = 'Invoice helper ' || name, system_prompt = 'reconcile the ledger'"
        " WHERE name IN ('agent 7', 'agent 8')"
    )
    await api.sql("ANALYZE agents")


async def test_an_owners_exact_count_reads_an_index_not_the_table(api):
    await seeded(api)
    owner = api.with_token(api.token("u0042"))
    found = await statements(api, owner, "/api/agents?status=active&count=exact&limit=1")
    counts = [(sql, args) for sql, args in found if sql.startswith("SELECT COUNT(*)")]
    assert counts, found
    nodes = await plan_nodes(api, *counts[0])
    assert nodes and all(kind != "Seq Scan" for kind, _ in nodes), nodes


async def test_an_admins_search_reads_the_gin_index_of_the_matched_vector(api):
    await seeded(api)
    admin = api.with_token(api.token("root", ["admin"]))
    found = await statements(api, admin, "/api/agents?q=invoice&limit=20")
    nodes = await plan_nodes(api, *found[0])
    assert ("Bitmap Index Scan", "agents_search_0_idx") in nodes, nodes
    assert all(kind != "Seq Scan" for kind, _ in nodes), nodes


async def test_an_admins_search_of_a_prompt_word_reads_the_prompt_index(api):
    await seeded(api)
    admin = api.with_token(api.token("root", ["admin"]))
    found = await statements(api, admin, "/api/agents?q=ledger&limit=20")
    nodes = await plan_nodes(api, *found[0])
    assert ("Bitmap Index Scan", "agents_search_1_idx") in nodes, nodes


async def test_an_admins_search_count_reads_the_gin_index(api):
    await seeded(api)
    admin = api.with_token(api.token("root", ["admin"]))
    found = await statements(api, admin, "/api/agents?q=invoice&count=exact&limit=1")
    counts = [(sql, args) for sql, args in found if sql.startswith("SELECT COUNT(*)")]
    nodes = await plan_nodes(api, *counts[0])
    assert ("Bitmap Index Scan", "agents_search_0_idx") in nodes, nodes


async def test_a_users_search_never_scans_the_whole_table(api):
    await seeded(api)
    owner = api.with_token(api.token("u0042"))
    found = await statements(api, owner, "/api/agents?q=invoice&limit=20")
    nodes = await plan_nodes(api, *found[0])
    assert nodes and all(kind != "Seq Scan" for kind, _ in nodes), nodes
