"""The per-process pump reads events' payloads only while a stream listens.

With no stream open, every event is still logged and counted past (the hub's position moves), but
its `data` and `changes` are not read from the table nor decoded. A stream that begins while such a
read is in flight has the read made again with the payloads, so it never gets an event without them.
"""

from __future__ import annotations

from events_support import wait_until

from engine.features.events.runtime import EVENTS
from engine.features.events.tables import SELECT_AFTER, SELECT_AFTER_LIGHT


class PumpReads:
    """The dispatcher's pool, recording the pump's reads (the SQL of each event `fetch`); `on_light`
    runs after a light read returned rows, before the pump looks at them."""

    def __init__(self, monkeypatch, dispatcher, on_light=None) -> None:
        self.sql: list[str] = []
        self.pool, self.on_light = dispatcher.pool, on_light
        monkeypatch.setattr(dispatcher, "pool", self)

    def __getattr__(self, name):
        return getattr(self.pool, name)

    async def fetch(self, sql, *args, **kwargs):
        rows = await self.pool.fetch(sql, *args, **kwargs)
        if sql in (SELECT_AFTER.sql, SELECT_AFTER_LIGHT.sql):
            self.sql.append(sql)
            if sql == SELECT_AFTER_LIGHT.sql and self.on_light is not None:
                self.on_light(rows)
        return rows


async def created_event_id(api, client) -> int:
    agent = (await client.post("/api/agents", json={"name": "Pumped"})).json["data"]
    [row] = await api.sql("SELECT id FROM _engine_events WHERE record_id = $1", agent["id"])
    return row["id"]


async def test_without_a_stream_the_pump_moves_past_events_without_reading_their_payloads(api, monkeypatch):
    runtime = api.app[EVENTS]
    reads = PumpReads(monkeypatch, runtime.dispatcher)
    event_id = await created_event_id(api, await api.as_user("alice"))

    async def passed() -> bool:
        return runtime.hub.position[1] >= event_id

    await wait_until(passed, "the pump to move past the new event")
    assert reads.sql and set(reads.sql) == {SELECT_AFTER_LIGHT.sql}


async def test_a_stream_that_begins_during_a_light_read_gets_the_payloads(api, monkeypatch):
    runtime = api.app[EVENTS]
    joined = []

    def subscribe(rows) -> None:  # as the read of the agent's event returns
        if not joined and any(row["resource"] == "agents" for row in rows):
            joined.append(runtime.hub.subscribe(None, 100))

    reads = PumpReads(monkeypatch, runtime.dispatcher, on_light=subscribe)
    alice = await api.as_user("alice")
    event_id = await created_event_id(api, alice)

    async def delivered() -> bool:
        return bool(joined) and any(e.id == event_id for e in joined[0].buffer)

    await wait_until(delivered, "the stream that began to receive the event")
    [event] = [e for e in joined[0].buffer if e.id == event_id]
    assert event.data["name"] == "Pumped" and SELECT_AFTER.sql in reads.sql
    runtime.hub.unsubscribe(joined[0])
