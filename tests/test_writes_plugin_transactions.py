"""A plugin that does not say whether its write hooks need the transaction always gets one."""

from __future__ import annotations

import pytest
from events_support import event_rows

from engine.kernel.errors import Conflict
from engine.kernel.hooks import hookimpl


class Auditor:
    """An after_write written before write_needs_transaction existed: raising must roll back."""

    def __init__(self) -> None:
        self.in_transaction: list[bool] = []

    @hookimpl
    async def after_write(self, conn, resource, action, record) -> None:
        if resource.name != "agents":
            return
        self.in_transaction.append(conn.is_in_transaction())
        if record["name"] == "boom":
            raise Conflict("the auditor refuses this row")


AUDITOR = Auditor()


@pytest.fixture
def engine_plugins():
    return [AUDITOR]


async def test_an_undeclared_after_write_runs_inside_the_write_transaction(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]
    await alice.patch(f"/api/agents/{agent['id']}", json={"name": "Planner"})

    assert AUDITOR.in_transaction[-2:] == [True, True]


async def test_an_undeclared_after_write_that_raises_rolls_back_the_row_and_its_event(api):
    alice = await api.as_user("alice")

    response = await alice.post("/api/agents", json={"name": "boom"})

    assert response.status == 409
    assert await api.sql("SELECT id FROM agents") == []
    assert [e for e in await event_rows(api) if e["resource"] == "agents"] == []
