"""Set-based: a bulk create of many rows runs one INSERT for all of them (events folded in),
a bulk update one UPDATE and a bulk delete one DELETE, whatever the number of rows; inside a
transaction, the events of all the rows are one INSERT too."""

from __future__ import annotations

import pytest
from statements_support import statements_of


@pytest.fixture
def engine_env(engine_env):
    """One pooled connection, so a query logger on it sees every statement a request runs."""
    return {**engine_env, "ENGINE_POOL_MIN_SIZE": "1", "ENGINE_POOL_SIZE": "1"}


async def test_a_bulk_create_of_200_rows_is_one_insert(api):
    alice = await api.as_user("alice")
    items = [{"name": f"n{i}", "tools": [{"name": "t"}]} for i in range(200)]
    (insert,) = await statements_of(api, lambda: alice.post("/api/agents", json=items))
    assert "UNNEST" in insert and "_engine_events" in insert  # the rows and their events, in one statement
    assert (await api.sql("select count(*) from agents"))[0][0] == 200


async def test_a_bulk_create_works_out_the_read_rules_of_its_rows_in_the_same_statement(api):
    alice = await api.as_user("alice")
    items = [{"name": f"n{i}", "system_prompt": f"prompt {i}"} for i in range(50)]
    answers = []

    async def send():
        answers.append(await alice.post("/api/agents", json=items))
        return answers[0]

    ran = await statements_of(api, send, writes=('"agents"',))
    assert len(ran) == 1, ran  # no query after the insert to ask which masked fields alice may read
    assert [row["system_prompt"] for row in answers[0].json["data"]] == [f"prompt {i}" for i in range(50)]


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


async def test_the_events_of_a_bulk_update_of_200_rows_are_one_insert_in_row_order(api):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json=[{"name": f"n{i}"} for i in range(200)])
    events = ('INSERT INTO "_engine_events"',)
    patch = lambda: alice.patch("/api/agents?name[like]=n*", json={"status": "active"})  # noqa: E731
    (insert,) = await statements_of(api, patch, events)
    assert "UNNEST" in insert
    rows = await api.sql("select record_id, changes from _engine_events where action = 'updated' order by id")
    (ids,) = await api.sql("select array_agg(id::text order by id) from agents")
    assert [r[0] for r in rows] == ids[0]  # the rows' order (the bulk update's, by primary key)
    assert all(r[1] == {"status": {"before": "draft", "after": "active"}} for r in rows)


async def test_the_events_of_a_bulk_delete_of_200_rows_are_one_insert(api):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json=[{"name": f"n{i}"} for i in range(200)])
    events = ('INSERT INTO "_engine_events"',)
    (insert,) = await statements_of(api, lambda: alice.delete("/api/agents?name[like]=n*"), events)
    assert "UNNEST" in insert
    assert (await api.sql("select count(*) from _engine_events where action = 'deleted'"))[0][0] == 200
