"""Set-based: a bulk create of many rows runs one INSERT for all of them (events folded in),
a bulk update one UPDATE and a bulk delete one DELETE, whatever the number of rows."""

from __future__ import annotations

import asyncio

import pytest

from engine.http.keys import POOL


@pytest.fixture
def engine_env(engine_env):
    """One pooled connection, so a query logger on it sees every statement a request runs."""
    return {**engine_env, "ENGINE_POOL_MIN_SIZE": "1", "ENGINE_POOL_SIZE": "1"}


async def statements_of(api, send) -> list[str]:
    """The statements the server ran while answering `send()` that write to the agents table."""
    seen: list[str] = []

    def log(record) -> None:
        seen.append(record.query)

    async with api.app[POOL].acquire() as conn:
        conn.add_query_logger(log)
    try:
        result = await send()
        assert result.status in (200, 201), result.text
        await asyncio.sleep(0)
    finally:
        async with api.app[POOL].acquire() as conn:
            conn.remove_query_logger(log)
    writes = ('INSERT INTO "agents"', 'UPDATE "agents"', 'DELETE FROM "agents"')
    return [q for q in seen if any(w in q for w in writes)]


async def test_a_bulk_create_of_200_rows_is_one_insert(api):
    alice = await api.as_user("alice")
    items = [{"name": f"n{i}", "tools": [{"name": "t"}]} for i in range(200)]
    (insert,) = await statements_of(api, lambda: alice.post("/api/agents", json=items))
    assert "UNNEST" in insert and "_engine_events" in insert  # the rows and their events, in one statement
    assert (await api.sql("select count(*) from agents"))[0][0] == 200


async def test_a_bulk_update_of_200_rows_is_one_update(api):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json=[{"name": f"n{i}"} for i in range(200)])
    (update,) = await statements_of(api, lambda: alice.patch("/api/agents?name[like]=n*", json={"status": "active"}))
    assert "UNNEST" in update


async def test_a_bulk_delete_of_200_rows_is_one_statement(api):
    # agents are soft-deleted (resources.yaml): the one statement marks the rows
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json=[{"name": f"n{i}"} for i in range(200)])
    (delete,) = await statements_of(api, lambda: alice.delete("/api/agents?name[like]=n*"))
    assert "ANY" in delete
    assert (await api.sql("select count(*) from agents where deleted_at is null"))[0][0] == 0
