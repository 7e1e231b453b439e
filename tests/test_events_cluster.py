"""Across processes: events reach every engine process on the database through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from events_support import Recorder, Stream, body, open_stream, wait_until
from process_support import engine_env as process_env
from process_support import serving

from engine.features.events.runtime import EVENTS
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.testing import TEST_JWT_SECRET

ROOT = Path(__file__).resolve().parent.parent


async def test_a_write_to_one_engine_process_reaches_the_stream_of_another(api, engine_database_url, engine_schema):
    alice = await api.as_user("alice")
    env = {**process_env(engine_database_url, engine_schema), "ENGINE_AUTO_MIGRATE": "0"}
    env["ENGINE_JWT_SECRET"] = TEST_JWT_SECRET

    async with serving(cwd=ROOT, env=env) as (_, base), aiohttp.ClientSession() as session:
        url = f"{base}/api/events/stream?resources=agents"
        async with session.get(url, headers=alice.headers) as response:
            stream = Stream(response)
            assert (await stream.next_message()).comment == "connected"

            agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]  # this process

            message = await stream.next_event()  # ... seen by the other one

    assert (message.event, body(message)["record_id"]) == ("agents.created", agent["id"])


@pytest.fixture
def first_recorder():
    return Recorder()


@pytest.fixture
def engine_plugins(first_recorder):
    return [first_recorder]


@pytest.fixture
def engine_env(engine_env):
    return {**engine_env, "ENGINE_EVENTS_POLL_INTERVAL": "0.2"}  # how soon a follower retries the lead


@pytest.fixture
def second_recorder():
    return Recorder()


@pytest.fixture
async def second(api, engine_spec, engine_env, engine_database_url, engine_schema, aiohttp_client, second_recorder):
    """Another app on the same database and schema, started after the `api` one."""
    config = Config.from_env(
        engine_spec, env=engine_env, database_url=engine_database_url, db_schema=engine_schema, auto_migrate=False
    )
    return await aiohttp_client(create_app(engine_spec, config, plugins=[second_recorder]))


async def test_a_write_to_one_app_reaches_a_stream_on_another_app_on_the_same_database(api, second):
    alice = await api.as_user("alice")
    async with open_stream(api, alice, "?resources=agents") as stream:
        created = await second.post("/api/agents", json={"name": "Helper"}, headers=alice.headers)

        message = await stream.next_event()

    assert body(message)["record_id"] == (await created.json())["data"]["id"]


async def test_each_event_is_handled_by_one_process_of_the_cluster(api, second, first_recorder, second_recorder):
    alice = await api.as_user("alice")
    for i in range(3):
        await second.post("/api/agents", json={"name": f"a{i}"}, headers=alice.headers)
        await alice.post("/api/agents", json={"name": f"b{i}"})
    written = {row["id"] for row in await api.sql("select id from _engine_events")}

    async def all_handled() -> bool:
        return {e["id"] for e in first_recorder.events + second_recorder.events} == written

    await wait_until(all_handled, "every event to be handled")
    ids = [e["id"] for e in first_recorder.events + second_recorder.events]
    assert sorted(ids) == sorted(written)  # once each, whichever process wrote it


async def test_when_the_delivering_process_stops_another_takes_over(api, second, second_recorder):
    assert api.app[EVENTS].delivery.leading and not second.app[EVENTS].delivery.leading
    alice = await api.as_user("alice")

    await api.client.close()  # the first app shuts down: its listener connection, and the lead, go
    created = await second.post("/api/agents", json={"name": "Helper"}, headers=alice.headers)
    agent_id = (await created.json())["data"]["id"]

    async def handled_by_second() -> bool:
        return any(e["record_id"] == agent_id for e in second_recorder.events)

    await wait_until(handled_by_second, "the second app to take the lead and handle the event")


class TestListenerConnection:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_EVENTS_POLL_INTERVAL": "60"}  # no polling: only LISTEN can deliver

    async def test_a_stream_keeps_receiving_events_after_the_listener_connection_is_killed(self, api, second):
        alice = await api.as_user("alice")
        listener = api.app[EVENTS].dispatcher.listener
        killed = listener.pid
        async with open_stream(api, alice, "?resources=agents") as stream:
            await api.sql("select pg_terminate_backend($1)", killed)

            async def reconnected() -> bool:
                return listener.connected.is_set() and listener.pid != killed

            await wait_until(reconnected, "the listener to reconnect on a new connection")
            created = await second.post("/api/agents", json={"name": "Helper"}, headers=alice.headers)

            message = await stream.next_event()  # written by the other app: only a NOTIFY can bring it

        assert body(message)["record_id"] == (await created.json())["data"]["id"]

    async def test_a_write_reaches_the_stream_of_its_own_process_without_the_listener(self, api):
        alice = await api.as_user("alice")
        listener = api.app[EVENTS].dispatcher.listener
        async with open_stream(api, alice, "?resources=agents") as stream:
            # No LISTEN connection and no poll within the test: only the wake-up within the process is left.
            listening = next(t for t in api.app[EVENTS].dispatcher._tasks if t.get_name() == "engine-events-listener")
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
            agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

            message = await stream.next_event()

        assert body(message)["record_id"] == agent["id"]
        assert not listener.connected.is_set()
