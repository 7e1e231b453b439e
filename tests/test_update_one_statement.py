"""An update that needs nothing from the stored row before its SQL is one statement: it reads the
row, changes that version of it and writes its event and version, with no read before it.

The example's status rule rides along as a condition on the row as it was
(the declared `transitions:`, `Guard`); an If-Match, or a plugin that needs `previous`, reads
the row first. Either way the answer, the stored row, the event's `changes` and the history are
the same.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from events_support import event_rows
from statements_support import statements_of
from team_helpers import create_agent, share_agent, team_with_roles

from engine.db.pool import connect
from engine.kernel.hooks import hookimpl


@pytest.fixture
def engine_env(engine_env):
    """One pooled connection, so a query logger on it sees every statement a request runs."""
    return {**engine_env, "ENGINE_POOL_MIN_SIZE": "1", "ENGINE_POOL_SIZE": "1"}


AGENT_STATEMENTS = ('"agents"',)


async def patch_statements(api, client, agent: str, body: dict, **kwargs) -> list[str]:
    """The statements on the agents table that a PATCH of `agent` ran."""
    return await statements_of(api, lambda: client.patch(f"/api/agents/{agent}", json=body, **kwargs), AGENT_STATEMENTS)


async def test_a_rename_is_one_statement_with_its_event_and_version(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)

    ran = await patch_statements(api, alice, agent, {"name": "Planner"})

    assert len(ran) == 1, ran
    assert "_engine_events" in ran[0] and "agents_history" in ran[0]


async def test_a_status_move_is_one_statement_with_the_rule_in_it(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)

    ran = await patch_statements(api, alice, agent, {"status": "active"})

    assert len(ran) == 1, ran
    assert "'archived'" in ran[0]  # StatusGuard's moves


async def test_a_refused_status_move_is_the_rules_409_and_leaves_row_event_and_history(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    events_before = len(await event_rows(api))

    body = expect_problem(await alice.patch(f"/api/agents/{agent}", json={"status": "paused", "name": "x"}), 409)

    assert body["allowed_moves"] == ["active", "archived"]
    assert [tuple(r) for r in await api.sql("select name, status from agents")] == [("Helper", "draft")]
    assert len(await event_rows(api)) == events_before
    assert len(await api.sql("select 1 from agents_history where record_id = $1", agent)) == 1


async def test_an_if_match_update_reads_the_row_first(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    etag = (await alice.get(f"/api/agents/{agent}")).headers["ETag"]

    ran = await patch_statements(api, alice, agent, {"name": "x"}, headers={"If-Match": etag})

    assert len(ran) == 2, ran  # the row (its ETag checked), then the update of that version only


async def test_a_one_statement_update_records_the_same_changes_as_a_read_first_one(api):
    """The same change to two agents: one patch alone (one statement), one with If-Match (the row
    read first). Every kind of column changes."""
    alice = await api.as_user("alice")
    body = {"name": "Helper", "parameters": {"temperature": 0.25, "deep": {"n": [1, 2]}}, "tools": [{"name": "a"}]}
    first, second = await create_agent(alice, **body), await create_agent(alice, **body)
    patch = {"name": "Planner", "system_prompt": "plans", "parameters": {"temperature": 0.5}, "tools": []}
    # system_prompt changes too, but events leave it out (resources.yaml: events.exclude)

    etag = (await alice.get(f"/api/agents/{second}")).headers["ETag"]
    one = await alice.patch(f"/api/agents/{first}", json=patch)
    read_first = await alice.patch(f"/api/agents/{second}", json=patch, headers={"If-Match": etag})

    assert (one.status, read_first.status) == (200, 200)
    events = {e["record_id"]: e for e in await event_rows(api) if e["action"] == "updated"}
    assert events[first]["changes"] == events[second]["changes"]
    assert set(events[first]["changes"]) == {"name", "parameters", "tools"}
    assert events[first]["changes"]["parameters"]["before"] == body["parameters"]
    assert {k: v for k, v in one.json["data"].items() if k not in ("id", "created_at", "updated_at")} == {
        k: v for k, v in read_first.json["data"].items() if k not in ("id", "created_at", "updated_at")
    }


async def test_an_invalid_patch_to_a_row_the_caller_cannot_see_is_a_404(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    agent = await create_agent(alice)

    hidden = await bob.patch(f"/api/agents/{agent}", json={"name": 42})
    mine = await alice.patch(f"/api/agents/{agent}", json={"name": 42})

    assert hidden.status == 404
    assert mine.status == 422 and mine.json["errors"][0]["path"] == "/name"


async def test_a_patch_of_a_shared_agent_by_a_member_is_a_403_and_changes_nothing(api):
    team = await team_with_roles(api)
    agent = await create_agent(team.alice)
    await share_agent(team.alice, team.id, agent)

    refused = await team.carol.patch(f"/api/agents/{agent}", json={"name": "Mine now"})

    assert refused.status == 403
    assert (await team.alice.get(f"/api/agents/{agent}")).json["data"]["name"] == "Helper"


async def test_an_update_that_waits_for_a_concurrent_writer_applies_to_its_committed_row(api):
    """The test holds the row changed in an open transaction; the PATCH waits for it, then finds
    another version than it read and takes the locking path: its event's `before` is the committed
    name and history numbers both versions."""
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    holder = await connect(api.database_url, schema=api.schema)
    try:
        writer = holder.transaction()
        await writer.start()
        await holder.execute("UPDATE agents SET name = 'meanwhile' WHERE id = $1", agent)
        patch = asyncio.ensure_future(alice.patch(f"/api/agents/{agent}", json={"parameters": {"model": "later"}}))
        await wait_for_a_lock_wait(holder)
        await writer.commit()
        response = await patch
    finally:
        await holder.close()

    assert response.status == 200
    assert (response.json["data"]["name"], response.json["data"]["parameters"]) == ("meanwhile", {"model": "later"})
    event = [e for e in await event_rows(api) if e["action"] == "updated"][-1]
    assert event["changes"] == {"parameters": {"before": {}, "after": {"model": "later"}}}
    assert event["data"]["name"] == "meanwhile"
    versions = await api.sql("select version from agents_history where record_id = $1 order by version", agent)
    assert [v["version"] for v in versions] == [1, 2]  # the create and the PATCH (the raw UPDATE wrote none)


async def wait_for_a_lock_wait(conn: asyncpg.Connection) -> None:
    """Until another backend waits for a lock (the PATCH behind the test's open transaction)."""
    for _ in range(500):
        if await conn.fetchval("select count(*) from pg_stat_activity where wait_event_type = 'Lock'"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the PATCH never waited for the row")


class PreviousRecorder:
    """A plugin whose before_write takes `previous` and says nothing about needing it."""

    def __init__(self) -> None:
        self.previous: list[str | None] = []

    @hookimpl
    def write_needs_transaction(self) -> bool:
        return False

    @hookimpl
    def before_write(self, resource, action, previous) -> None:
        if resource.name == "agents" and action == "update":
            self.previous.append(None if previous is None else previous["name"])


RECORDER = PreviousRecorder()


@pytest.mark.parametrize("engine_plugins", [[RECORDER]])
async def test_a_plugin_that_takes_previous_without_declaring_it_always_gets_the_stored_row(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    RECORDER.previous.clear()

    ran = await patch_statements(api, alice, agent, {"name": "Planner"})

    assert RECORDER.previous == ["Helper"]
    assert len(ran) == 2, ran
