"""Counts and full-text search stay on indexes on a realistically large table (100,000 agents).

The seed is tests/test_query_plans.py's: 1,000 users with 100 agents each, analyzed. A count is the
list's WHERE clause, so an owner's count reads the owner's index; a search of a rare word reads the GIN
index of the stored vector it matches (engine.sql.search), and an owner's search their own rows by index.
"""

from __future__ import annotations

import asyncio

import pytest
from plans_support import generic_plan
from test_query_plans import seed

from engine.http.keys import POOL
from engine.sql import search


def search_index(api, group: int) -> str:
    """The GIN index of a vector group of agents: 0 holds name and tool names, 1 the system prompt."""
    return "agents" + search.columns(api.spec.resources["agents"])[group] + "_idx"


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


async def plan_nodes(api, sql: str, args: tuple = ()) -> list[tuple[str, str | None]]:
    """(node type, index name) of every node reading agents in the plan the engine runs (generic)."""
    nodes, stack = [], [await generic_plan(api, sql)]
    while stack:
        node = stack.pop()
        if node.get("Relation Name") == "agents" or node.get("Index Name", "").startswith("agents"):
            nodes.append((node["Node Type"], node.get("Index Name")))
        stack.extend(node.get("Plans", []))
    return nodes


PROMPT = (
    "You are a meticulous research assistant for a product team. Read the question, restate it in one "
    "line, list the facts you need, look them up with the tools you have, and answer in five sentences. "
)


async def seeded(api) -> None:
    """The plan tests' 100,000 agents, each with a system prompt as real agents have (so a row is as
    wide as in production), and one rare word: in the names of 4 agents and the prompts of 2."""
    await seed(api)
    await api.sql("UPDATE agents SET system_prompt = $1 || name", PROMPT)
    await api.sql(
        "UPDATE agents SET name = 'Invoice helper ' || name WHERE name IN ('agent 7', 'agent 8')"
        " AND user_id IN ('u0007', 'u0042')"
    )
    await api.sql(
        "UPDATE agents SET system_prompt = 'reconcile the ledger' WHERE name = 'agent 9' AND user_id = 'u0007'"
    )
    await api.sql(
        "UPDATE agents SET system_prompt = 'reconcile the ledger' WHERE name = 'agent 9' AND user_id = 'u0042'"
    )
    await api.sql("VACUUM ANALYZE agents")


async def counted(api, client, path: str) -> tuple[str, tuple]:
    found = await statements(api, client, path)
    counts = [(sql, args) for sql, args in found if sql.startswith("SELECT COUNT(*)")]
    assert counts, found
    return counts[0]


async def test_an_owners_exact_count_reads_an_index_not_the_table(api):
    await seeded(api)
    owner = api.with_token(api.token("u0042"))
    nodes = await plan_nodes(api, *await counted(api, owner, "/api/agents?status=active&count=exact&limit=1"))
    assert nodes and all(kind != "Seq Scan" for kind, _ in nodes), nodes


async def test_searches_read_the_gin_index_of_the_vector_they_match(api):
    await seeded(api)
    admin = api.with_token(api.token("root", ["admin"]))
    by_name = await plan_nodes(api, *(await statements(api, admin, "/api/agents?q=invoice&limit=20"))[0])
    assert ("Bitmap Index Scan", search_index(api, 0)) in by_name, by_name
    assert all(kind != "Seq Scan" for kind, _ in by_name), by_name
    by_prompt = await plan_nodes(api, *(await statements(api, admin, "/api/agents?q=ledger&limit=20"))[0])
    assert ("Bitmap Index Scan", search_index(api, 1)) in by_prompt, by_prompt
    count = await plan_nodes(api, *await counted(api, admin, "/api/agents?q=invoice&count=exact&limit=1"))
    assert ("Bitmap Index Scan", search_index(api, 0)) in count, count
    owner = api.with_token(api.token("u0042"))
    users = await plan_nodes(api, *(await statements(api, owner, "/api/agents?q=invoice&limit=20"))[0])
    assert users and all(kind != "Seq Scan" for kind, _ in users), users
