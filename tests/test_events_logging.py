"""Every committed event is logged once at info with its ids, by the process that leads delivery,
whether or not any on_event handler is installed."""

from __future__ import annotations

import logging

from events_support import wait_until


async def test_each_event_is_logged_at_info_with_its_ids(api, caplog):
    caplog.set_level(logging.INFO, logger="engine.events")
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "engine.events" and agent["id"] in r.getMessage()]

    async def logged() -> bool:
        return bool(lines())

    await wait_until(logged, "the agent's event to be logged")
    [line] = lines()
    assert line.startswith("event id=")
    assert f"agents.created record_id={agent['id']} actor=alice" in line
