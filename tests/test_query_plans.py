"""Owner-filtered keyset listing stays on an index on a realistically large table.

The benchmark's W2 (`status=active&sort=-created_at&limit=20`, owner-filtered) must not turn into a
sequential scan of agents as the table grows: the declared index (user_id, status, -created_at) serves
the first page and every page after it, cursor included.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from plans_support import generic_plan
from statements_support import logged_with_args

USERS, PER_USER = 1000, 100
PAGE = "/api/agents?status=active&sort=-created_at&limit=20"


@pytest.fixture
def engine_env(engine_env):
    """One pooled connection, so a query logger on it sees the statement the request runs."""
    return {**engine_env, "ENGINE_POOL_MIN_SIZE": "1", "ENGINE_POOL_SIZE": "1"}


async def seed(api) -> None:
    """1,000 users with 100 agents each, loaded with COPY, then analyzed like a live database."""
    rng = random.Random(3)
    now = datetime.now(UTC)
    users = [(f"u{i:04d}", f"u{i:04d}@example.test", now, now) for i in range(USERS)]
    statuses = ("draft", "active", "paused", "archived")
    agents = []
    for i in range(USERS):
        for j in range(PER_USER):
            at = now - timedelta(minutes=rng.randrange(500_000))
            agents.append((str(uuid.uuid4()), f"u{i:04d}", f"agent {j}", statuses[rng.randrange(4)], at, at))
    # A plain asyncpg connection: COPY's binary format needs asyncpg's own uuid codec.
    conn = await asyncpg.connect(api.database_url, server_settings={"search_path": api.schema})
    try:
        await conn.copy_records_to_table("users", records=users, columns=["id", "email", "created_at", "updated_at"])
        await conn.copy_records_to_table(
            "agents", records=agents, columns=["id", "user_id", "name", "status", "created_at", "updated_at"]
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def list_statement(api, client, path: str) -> tuple[str, tuple, dict]:
    """The SELECT on agents that answering GET `path` ran, its arguments, and the response body."""
    answered: list = []

    async def send():
        answered.append(await client.get(path))
        return answered[0]

    logged = await logged_with_args(api, send)
    seen = [(query, args) for query, args in logged if query.startswith("SELECT") and '"agents"' in query]
    assert len(seen) == 1, seen
    return seen[0][0], seen[0][1], answered[0].json


async def scans_on_agents(api, sql: str) -> list[str]:
    """The scans on agents of the plan the engine's connection runs (the generic plan)."""
    nodes, stack = [], [await generic_plan(api, sql)]
    while stack:
        node = stack.pop()
        if node.get("Relation Name") == "agents":
            nodes.append(node["Node Type"])
        stack.extend(node.get("Plans", []))
    return nodes


async def test_owner_filtered_keyset_pages_use_an_index_not_a_sequential_scan(api):
    await seed(api)
    owner = api.with_token(api.token("u0042"))

    first_sql, _, body = await list_statement(api, owner, PAGE)
    assert body["meta"]["next_cursor"], "the owner has more than one page of active agents"
    next_sql, _, _ = await list_statement(api, owner, PAGE + "&cursor=" + body["meta"]["next_cursor"])

    for sql in (first_sql, next_sql):
        scans = await scans_on_agents(api, sql)
        assert scans, "the plan reads agents"
        assert "Seq Scan" not in scans, scans
