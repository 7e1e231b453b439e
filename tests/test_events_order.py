"""Event order: readers take events in commit-safe order, so a transaction that commits late is never skipped.

Writers take no lock to order their events (it would make writes commit one at a time). Instead
an event waits until every older transaction has ended; the scenario here is the one an order by
id alone gets wrong: a transaction draws the smaller event id but commits after a later write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from events_support import Recorder, body, open_stream, wait_until

from engine.db.internal import ensure_tables
from engine.db.pool import connect
from engine.features.events.tables import EVENTS, EVENTS_MODEL
from engine.http.keys import MANAGERS, POOL
from engine.kernel.identity import Identity


@dataclass
class Interleaved:
    """Two agents of alice: `late` written first but committed second, `early` between them."""

    late: dict
    early: dict


@pytest.fixture
async def held_open(api) -> AsyncIterator:
    """A connection of the test's own, to hold a write's transaction open across an API call."""
    conn = await connect(api.database_url, schema=api.schema)
    yield conn
    await conn.close()


async def interleave(api, held_open) -> Interleaved:
    alice = await api.as_user("alice")
    async with held_open.transaction():
        late = await api.app[MANAGERS]["agents"].create({"name": "Late"}, Identity("alice"), conn=held_open)
        early = (await alice.post("/api/agents", json={"name": "Early"})).json["data"]
    return Interleaved(late=late, early=early)


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def engine_plugins(recorder):
    return [recorder]


async def test_an_event_waits_for_an_older_transaction_and_arrives_after_its_events(api, held_open):
    alice = await api.as_user("alice")
    async with open_stream(api, alice, "?resources=agents") as stream:
        written = await interleave(api, held_open)

        first, second = await stream.events(2)

    assert [body(first)["record_id"], body(second)["record_id"]] == [written.late["id"], written.early["id"]]
    assert int(first.id) < int(second.id)  # the late transaction drew the smaller id ...


async def test_a_resume_continues_after_the_event_it_names_in_delivery_order(api, held_open):
    alice = await api.as_user("alice")
    async with open_stream(api, alice, "?resources=agents") as stream:
        written = await interleave(api, held_open)
        first, _ = await stream.events(2)

    async with open_stream(api, alice, "?resources=agents", headers={"Last-Event-ID": first.id}) as resumed:
        message = await resumed.next_event()

    assert body(message)["record_id"] == written.early["id"]


async def test_handlers_receive_an_event_only_after_the_older_transaction_ends(api, held_open, recorder):
    written = await interleave(api, held_open)

    def agents() -> list[str]:
        return [e["record_id"] for e in recorder.events if e["resource"] == "agents"]

    async def both_handled() -> bool:
        return len(agents()) >= 2

    await wait_until(both_handled, "both events to reach the handler")
    assert agents() == [written.late["id"], written.early["id"]]


async def test_start_up_adds_the_transaction_column_to_an_events_table_of_an_older_release(api):
    await api.sql(f"drop table {EVENTS}")
    await api.sql(
        f"create table {EVENTS} (id bigserial primary key, resource text not null, action text not null, "
        "record_id text not null, actor text, at timestamptz not null default now(), data jsonb not null, "
        "changes jsonb)"
    )
    await api.sql(f"insert into {EVENTS} (resource, action, record_id, data) values ('agents', 'created', 'a', '{{}}')")

    await ensure_tables(api.app[POOL], EVENTS_MODEL)

    [row] = await api.sql(f"select tx from {EVENTS}")
    assert row["tx"] > 0
    indexes = {r["indexname"] for r in await api.sql("select indexname from pg_indexes where tablename = $1", EVENTS)}
    assert f"{EVENTS}_order_idx" in indexes


async def test_events_of_one_row_keep_commit_order_when_the_older_transaction_writes_it_last(api, held_open, recorder):
    alice = await api.as_user("alice")
    agents = api.app[MANAGERS]["agents"]
    agent = (await alice.post("/api/agents", json={"name": "Shared"})).json["data"]
    async with held_open.transaction():
        await agents.create({"name": "Elsewhere"}, Identity("alice"), conn=held_open)  # this transaction is older ...
        await alice.patch(f"/api/agents/{agent['id']}", json={"name": "First"})  # ... than this one, committed first
        await agents.update(agent["id"], {"name": "Second"}, Identity("alice"), conn=held_open)

    def names() -> list[str]:
        return [e["data"]["name"] for e in recorder.events if e["record_id"] == agent["id"]]

    async def all_handled() -> bool:
        return len(names()) == 3

    await wait_until(all_handled, "the three events of the shared agent")
    assert names() == ["Shared", "First", "Second"]


async def test_an_event_clock_is_an_id_already_assigned_so_it_settles_without_a_later_transaction(api):
    """Else a write in a quiet database would wait for the next transaction anywhere to be delivered."""
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]
    await alice.delete(f"/api/agents/{agent['id']}")  # a transaction of several statements

    [row] = await api.sql(
        f"select tx < pg_snapshot_xmax(pg_current_snapshot())::text::bigint as assigned from {EVENTS} "
        "where action = 'deleted' and record_id = $1",
        agent["id"],
    )
    assert row["assigned"]
