"""GET /api/events/stream: live events as server-sent events, only those the subscriber may read."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiohttp import ClientPayloadError
from events_support import WAIT, body, event_rows, open_stream, wait_until

from engine.features.events.runtime import EVENTS


async def test_anonymous_subscribers_get_401(api, expect_problem):
    result = await api.anonymous.get("/api/events/stream")

    expect_problem(result, 401)


async def test_an_unknown_resource_in_the_filter_is_a_400_naming_it(api, expect_problem):
    alice = await api.as_user("alice")

    result = await alice.get("/api/events/stream?resources=agents,robots")

    assert "robots" in expect_problem(result, 400)["detail"]


async def test_filtering_on_a_resource_the_caller_may_not_read_is_a_403(api, expect_problem):
    alice = await api.as_user("alice")

    result = await alice.get("/api/events/stream?resources=team_members")

    expect_problem(result, 403)


async def test_each_event_carries_its_id_its_type_and_the_event_as_json(api):
    alice = await api.as_user("alice")
    async with open_stream(api, alice) as stream:
        agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

        message = await stream.next_event()

    [row] = [e for e in await event_rows(api) if e["record_id"] == agent["id"]]
    assert message.id == str(row["id"])
    assert message.event == "agents.created"
    event = body(message)
    assert set(event) == {"id", "resource", "action", "record_id", "actor", "at", "data", "changes"}
    assert (event["id"], event["record_id"], event["actor"]) == (row["id"], agent["id"], "alice")
    assert event["data"]["name"] == "Helper"


async def test_the_events_of_one_record_arrive_in_the_order_of_the_writes(api):
    alice = await api.as_user("alice")
    async with open_stream(api, alice, "?resources=agents") as stream:
        agent = (await alice.post("/api/agents", json={"name": "v0"})).json["data"]
        for version in range(1, 8):
            await alice.patch(f"/api/agents/{agent['id']}", json={"name": f"v{version}"})

        messages = await stream.events(8)

    assert [body(m)["data"]["name"] for m in messages] == [f"v{i}" for i in range(8)]
    assert [int(m.id) for m in messages] == sorted(int(m.id) for m in messages)


async def test_the_resources_filter_sends_only_those_resources(api):
    alice = await api.as_user("alice")
    async with open_stream(api, alice, "?resources=teams") as stream:
        await alice.post("/api/agents", json={"name": "Helper"})
        await alice.post("/api/teams", json={"name": "Core"})

        message = await stream.next_event()

    assert message.event == "teams.created"


async def test_a_user_receives_no_event_about_another_users_rows(api):
    alice = await api.as_user("alice")
    bob = await api.as_user("bob")
    async with open_stream(api, alice, "?resources=agents") as stream:
        bobs = (await bob.post("/api/agents", json={"name": "Bob's"})).json["data"]
        await bob.patch(f"/api/agents/{bobs['id']}", json={"name": "Bob's, renamed"})
        await bob.delete(f"/api/agents/{bobs['id']}")
        await alice.post("/api/agents", json={"name": "Alice's"})

        message = await stream.next_event()  # bob's three events were skipped

    assert (body(message)["actor"], body(message)["data"]["name"]) == ("alice", "Alice's")


async def test_the_owner_receives_the_deleted_event_of_their_row(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]
    async with open_stream(api, alice, "?resources=agents") as stream:
        await alice.delete(f"/api/agents/{agent['id']}")

        message = await stream.next_event()

    assert (message.event, body(message)["record_id"]) == ("agents.deleted", agent["id"])


async def test_team_members_receive_the_events_of_their_team(api):
    alice = await api.as_user("alice")
    carol = await api.as_user("carol")
    team = (await alice.post("/api/teams", json={"name": "Core"})).json["data"]
    await alice.post(f"/api/teams/{team['id']}/members", json={"user_id": "carol"})
    await carol.post(f"/api/teams/{team['id']}/members/carol/accept")  # an invitation grants nothing until then
    async with open_stream(api, carol, "?resources=teams") as stream:
        await alice.patch(f"/api/teams/{team['id']}", json={"name": "Core team"})

        message = await stream.next_event()

    assert (message.event, body(message)["changes"]["name"]["after"]) == ("teams.updated", "Core team")


async def test_an_admin_receives_every_users_events(api):
    admin = await api.as_admin()
    bob = await api.as_user("bob")
    async with open_stream(api, admin, "?resources=agents") as stream:
        await bob.post("/api/agents", json={"name": "Bob's"})

        message = await stream.next_event()

    assert body(message)["actor"] == "bob"


class TestKeepAlive:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_EVENTS_KEEPALIVE": "0.05"}

    async def test_an_idle_stream_receives_keep_alive_comments(self, api):
        alice = await api.as_user("alice")
        async with open_stream(api, alice) as stream:
            message = await stream.next_message()

        assert message.comment == "keep-alive"


class TestDeadline:
    @pytest.fixture
    def engine_env(self, engine_env):
        # A deadline the stream must outlive, long enough for the POST that writes the event on a
        # slow machine (a POST cut off at the deadline writes no event: nothing would arrive).
        return {**engine_env, "ENGINE_REQUEST_TIMEOUT": "2", "ENGINE_EVENTS_KEEPALIVE": "0.1"}

    async def test_a_stream_outlives_the_request_deadline(self, api):
        alice = await api.as_user("alice")
        async with open_stream(api, alice, "?resources=agents") as stream:
            for _ in range(25):  # twenty-five keep-alives 0.1 s apart: past the 2 s deadline
                assert (await stream.next_message()).comment == "keep-alive"
            created = await alice.post("/api/agents", json={"name": "Helper"})
            assert created.status == 201, created.text

            message = await stream.next_event()

        assert message.event == "agents.created"


class TestResume:
    async def test_reconnecting_with_last_event_id_sends_what_was_missed_then_live_events(self, api):
        alice = await api.as_user("alice")
        names = iter(f"agent {i}" for i in range(1, 7))
        async with open_stream(api, alice, "?resources=agents") as stream:
            for _ in range(3):
                await alice.post("/api/agents", json={"name": next(names)})
            first, second, _ = await stream.events(3)
        for _ in range(2):  # while disconnected
            await alice.post("/api/agents", json={"name": next(names)})

        async with open_stream(api, alice, "?resources=agents", headers={"Last-Event-ID": second.id}) as stream:
            replayed = await stream.events(3)
            await alice.post("/api/agents", json={"name": next(names)})
            live = await stream.next_event()

        received = [body(m)["data"]["name"] for m in [*replayed, live]]
        assert received == ["agent 3", "agent 4", "agent 5", "agent 6"]
        ids = [int(m.id) for m in [first, second, *replayed, live]]
        assert ids == sorted(set(ids))  # no duplicate, in order

    async def test_the_last_event_id_query_parameter_resumes_like_the_header(self, api):
        alice = await api.as_user("alice")
        await alice.post("/api/agents", json={"name": "before"})
        await alice.post("/api/agents", json={"name": "missed"})
        [before, _] = [e for e in await event_rows(api) if e["resource"] == "agents"]

        async with open_stream(api, alice, f"?resources=agents&last_event_id={before['id']}") as stream:
            message = await stream.next_event()

        assert body(message)["data"]["name"] == "missed"

    async def test_a_resume_replays_only_what_the_subscriber_may_read(self, api):
        alice = await api.as_user("alice")
        bob = await api.as_user("bob")
        await alice.post("/api/agents", json={"name": "start"})
        [start] = [e for e in await event_rows(api) if e["resource"] == "agents"]
        await bob.post("/api/agents", json={"name": "Bob's"})
        await alice.post("/api/agents", json={"name": "Alice's"})

        async with open_stream(api, alice, "?resources=agents", headers={"Last-Event-ID": str(start["id"])}) as stream:
            message = await stream.next_event()

        assert body(message)["data"]["name"] == "Alice's"

    async def test_a_last_event_id_that_is_not_a_number_is_a_400(self, api, expect_problem):
        alice = await api.as_user("alice")

        result = await alice.get("/api/events/stream", headers={"Last-Event-ID": "yesterday"})

        expect_problem(result, 400)


class TestSlowSubscriber:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_EVENTS_STREAM_BUFFER": "4"}

    async def test_a_subscriber_that_stops_reading_is_disconnected_and_holds_up_nobody(self, api):
        admin = await api.as_admin()
        hub = api.app[EVENTS].hub
        big = [{"name": "search", "description": "x" * 50_000}]  # fills socket buffers quickly
        received: list[str] = []

        async def read_everything(stream) -> None:
            while True:
                received.append((await stream.next_event()).id)

        async with (
            open_stream(api, admin, "?resources=agents") as slow,
            open_stream(api, admin, "?resources=agents") as fast,
        ):
            reader = asyncio.create_task(read_everything(fast))
            statuses = []
            for i in range(1000):  # `slow` reads nothing: its socket fills, then its buffer of 4
                statuses.append((await admin.post("/api/agents", json={"name": f"a{i}", "tools": big})).status)
                written = len(statuses)

                async def fast_has_all() -> bool:
                    return len(received) >= written  # noqa: B023 (awaited within this iteration)

                # In step with `fast`, which shares this event loop with the server: it must never lag
                # by a whole buffer (a loaded machine would make it too slow as well), while `slow`,
                # reading nothing, still blocks on its full socket.
                await wait_until(fast_has_all, "the other subscriber to receive every event")
                if hub.dropped:
                    break
            reader.cancel()

            ended = False
            try:
                async with asyncio.timeout(WAIT):
                    async for _ in slow.messages:  # what the socket still held, then the end
                        pass
                ended = True
            except ClientPayloadError:
                ended = True  # cut mid-event: the server dropped a connection stuck on a full socket

        assert hub.dropped == 1
        assert ended
        assert set(statuses) == {201}
        assert len(received) == written  # the other subscriber got every event


async def test_a_stream_from_now_on_skips_events_committed_before_it_while_an_older_transaction_runs(
    api, engine_database_url
):
    # Any transaction on the server holds events back until it ends (they are not settled yet); an
    # event committed before the stream opened is still not "from now on" once it settles.
    alice = await api.as_user("alice")
    older = await asyncpg.connect(engine_database_url)
    try:
        transaction = older.transaction()
        await transaction.start()
        await older.fetchval("select pg_current_xact_id()")  # takes a transaction id older than the write's
        await alice.post("/api/agents", json={"name": "before"})
        async with open_stream(api, alice, "?resources=agents") as stream:
            await transaction.rollback()
            after = (await alice.post("/api/agents", json={"name": "after"})).json["data"]
            message = await stream.next_event()
    finally:
        await older.close()
    assert body(message)["record_id"] == after["id"]
