"""`resource-engine events prune --older-than 30d` (retention) and `events failures` (inspection)."""

from __future__ import annotations

from pathlib import Path

import pytest
from events_support import event_rows
from process_support import engine_env as process_env
from process_support import run_engine

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def events_command(engine_database_url, engine_schema):
    async def run(*args: str):
        return await run_engine("events", *args, cwd=ROOT, env=process_env(engine_database_url, engine_schema))

    return run


@pytest.fixture
def prune(events_command):
    async def run(*args: str):
        return await events_command("prune", *args)

    return run


async def age(api, record_id: str, days: int) -> None:
    await api.sql(
        "update _engine_events set at = now() - make_interval(days => $2) where record_id = $1", record_id, days
    )


async def test_prune_deletes_the_events_older_than_the_given_age_and_keeps_the_rest(api, prune):
    alice = await api.as_user("alice")
    old = (await alice.post("/api/agents", json={"name": "old"})).json["data"]
    recent = (await alice.post("/api/agents", json={"name": "recent"})).json["data"]
    await age(api, old["id"], 40)
    await age(api, recent["id"], 20)

    done = await prune("--older-than", "30d")

    assert done.code == 0, done.output
    assert "pruned 1 event(s)" in done.output
    assert old["id"] not in {e["record_id"] for e in await event_rows(api)}
    assert recent["id"] in {e["record_id"] for e in await event_rows(api)}


async def test_prune_also_deletes_the_handler_failures_of_the_events_it_removes(api, prune):
    alice = await api.as_user("alice")
    old = (await alice.post("/api/agents", json={"name": "old"})).json["data"]
    await age(api, old["id"], 40)
    [event] = [e for e in await event_rows(api) if e["record_id"] == old["id"]]
    await api.sql(
        "insert into _engine_event_failures (event_id, handler, error, attempts) values ($1, 'h', 'boom', 6)",
        event["id"],
    )

    await prune("--older-than", "30d")

    assert await api.sql("select * from _engine_event_failures") == []


async def test_a_stream_resume_from_before_pruned_events_is_refused_with_410(api, prune, expect_problem):
    alice = await api.as_user("alice")
    first = (await alice.post("/api/agents", json={"name": "first"})).json["data"]
    second = (await alice.post("/api/agents", json={"name": "second"})).json["data"]
    await age(api, first["id"], 40)
    await age(api, second["id"], 40)
    [first_event] = [e for e in await event_rows(api) if e["record_id"] == first["id"]]
    await prune("--older-than", "30d")

    result = await alice.get("/api/events/stream", headers={"Last-Event-ID": str(first_event["id"])})

    assert "pruned" in expect_problem(result, 410)["detail"]


async def test_an_unreadable_age_fails_with_a_message_and_prunes_nothing(api, prune):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json={"name": "kept"})
    before = await event_rows(api)

    done = await prune("--older-than", "a while")

    assert done.code == 1
    assert "invalid duration" in done.output
    assert await event_rows(api) == before


async def test_failures_lists_each_failure_kept_after_the_last_retry(api, events_command):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json={"name": "Helper"})
    [event] = [e for e in await event_rows(api) if e["resource"] == "agents"]
    await api.sql(
        "insert into _engine_event_failures (event_id, handler, error, attempts) values ($1, $2, $3, 6)",
        event["id"],
        "notifier",
        "Traceback (most recent call last):\nRuntimeError: the mail server is down",
    )

    listed = await events_command("failures")

    assert listed.code == 0, listed.output
    assert f"event {event['id']}  notifier  after 6 attempt(s): RuntimeError: the mail server is down" in listed.output
