"""A create or update whose plugins need no transaction is one statement with its event folded in.

The plugins here declare (write_needs_transaction) that they need none, so the engine skips
BEGIN/COMMIT; the event still exists exactly when the change does.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from events_support import event_rows
from sqlglot import exp

from engine.features.events.inline import _timestamp_json
from engine.kernel.errors import Conflict
from engine.kernel.hooks import hookimpl
from engine.sql.compiled import compile_expression, param


class Observer:
    """Records whether the write's connection was inside a transaction; can race an update."""

    def __init__(self) -> None:
        self.in_transaction: list[bool] = []
        self.race_once: dict[str, str] = {}  # agent id -> a name another writer sets first

    @hookimpl
    def write_needs_transaction(self) -> bool:
        return False

    @hookimpl
    async def before_write(self, conn, resource, action, data, previous) -> None:
        if resource.name != "agents":
            return
        self.in_transaction.append(conn.is_in_transaction())
        if data and data.get("name") == "refused":
            raise Conflict("this name is refused before anything is written")
        if previous is not None and str(previous["id"]) in self.race_once:
            name = self.race_once.pop(str(previous["id"]))
            await conn.execute("UPDATE agents SET name = $1 WHERE id = $2", name, previous["id"])


OBSERVER = Observer()


@pytest.fixture
def engine_plugins():
    return [OBSERVER]


async def test_a_create_runs_without_a_transaction_when_no_plugin_needs_one(api):
    alice = await api.as_user("alice")
    OBSERVER.in_transaction.clear()

    response = await alice.post("/api/agents", json={"name": "Helper"})

    assert response.status == 201
    assert OBSERVER.in_transaction == [False]


async def test_a_lone_create_still_writes_its_event_with_the_row_as_returned(api):
    alice = await api.as_user("alice")
    created = (await alice.post("/api/agents", json={"name": "Helper", "parameters": {"t": 0.5}})).json["data"]

    [event] = [e for e in await event_rows(api) if e["record_id"] == created["id"]]

    assert (event["action"], event["actor"], event["changes"]) == ("created", "alice", None)
    assert event["data"] == {k: v for k, v in created.items() if k != "system_prompt"}


async def test_a_refusal_before_the_statement_writes_neither_row_nor_event(api):
    alice = await api.as_user("alice")

    response = await alice.post("/api/agents", json={"name": "refused"})

    assert response.status == 409
    assert await api.sql("SELECT id FROM agents") == []
    assert [e for e in await event_rows(api) if e["resource"] == "agents"] == []


async def test_a_lone_update_records_exactly_the_changed_fields(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper", "tools": [{"name": "search"}]})).json["data"]
    OBSERVER.in_transaction.clear()

    updated = await alice.patch(f"/api/agents/{agent['id']}", json={"name": "Planner", "tools": [{"name": "search"}]})

    assert updated.status == 200
    assert OBSERVER.in_transaction == [False]
    event = (await event_rows(api))[-1]
    assert event["changes"] == {"name": {"before": "Helper", "after": "Planner"}}
    assert event["data"]["updated_at"] == updated.json["data"]["updated_at"]


async def test_an_update_that_loses_a_race_is_applied_to_the_newer_row(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]
    OBSERVER.race_once[agent["id"]] = "renamed meanwhile"

    response = await alice.patch(f"/api/agents/{agent['id']}", json={"status": "active"})

    assert response.status == 200
    assert (response.json["data"]["name"], response.json["data"]["status"]) == ("renamed meanwhile", "active")
    event = (await event_rows(api))[-1]
    assert event["changes"] == {"status": {"before": "draft", "after": "active"}}


async def test_event_timestamps_are_written_the_way_the_api_writes_them(api):
    moments = [
        datetime(2026, 12, 3, 6, 13, 0, tzinfo=UTC),
        datetime(2026, 12, 3, 6, 13, 0, 120000, tzinfo=UTC),
        datetime(1999, 1, 2, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    statement = compile_expression(
        exp.select(_timestamp_json(exp.Cast(this=param("at"), to=exp.DataType.build("timestamptz"))))
    )

    for moment in moments:
        [row] = await api.sql(statement.sql, moment)
        assert row[0] == orjson.loads(orjson.dumps(moment)), moment
