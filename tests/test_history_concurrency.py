"""Concurrent writes of one row: every committed version is recorded once, numbered without gaps in
commit order, and a write rolled back after its SQL leaves no version."""

from __future__ import annotations

import asyncio

import pytest

from engine.kernel.errors import Conflict
from engine.kernel.hooks import hookimpl

WRITERS = 24


async def history(api, agent_id: str) -> list[dict]:
    rows = await api.sql("select version, data from agents_history where record_id = $1 order by version", agent_id)
    return [dict(r) for r in rows]


async def patch_all(alice, agent_id: str, names: list[str]) -> list[int]:
    results = await asyncio.gather(*(alice.patch(f"/api/agents/{agent_id}", json={"name": n}) for n in names))
    return [r.status for r in results]


def assert_complete(found: list[dict], current: dict, names: list[str]) -> None:
    assert [v["version"] for v in found] == list(range(1, len(names) + 2))  # the create, then one per update
    assert sorted(v["data"]["name"] for v in found[1:]) == sorted(names)
    assert found[-1]["data"]["name"] == current["name"]  # the newest version is the row as it is


async def test_concurrent_updates_each_record_one_version_in_order(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "start"})).json["data"]
    names = [f"writer-{i}" for i in range(WRITERS)]
    assert await patch_all(alice, agent["id"], names) == [200] * WRITERS
    current = (await alice.get(f"/api/agents/{agent['id']}")).json["data"]
    assert_complete(await history(api, agent["id"]), current, names)


async def test_concurrent_updates_deletes_and_restores_each_committed_one_record_one_version(api):
    """PATCHes fold their version into their own statement, a soft delete and a restore write it in
    their transaction: mixed on one row, they still number every committed change once, in order."""
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "start"})).json["data"]
    path = f"/api/agents/{agent['id']}"
    writes = []
    for i in range(WRITERS):
        writes.append(alice.patch(path, json={"name": f"writer-{i}"}))
        if i % 4 == 1:
            writes.append(alice.delete(path))
        if i % 4 == 3:
            writes.append(alice.post(f"{path}/restore"))
    results = await asyncio.gather(*writes)
    assert {r.status for r in results} <= {200, 204, 404}, [r.text for r in results if r.status >= 400]
    committed = sum(r.status in (200, 204) for r in results)
    found = await api.sql(
        "select version, action from agents_history where record_id = $1 order by version", agent["id"]
    )
    assert [v["version"] for v in found] == list(range(1, committed + 2))
    assert sum(v["action"] == "deleted" for v in found) == sum(r.status == 204 for r in results)


class RefuseSomeWrites:
    """A domain rule that refuses, after the write's SQL, an update to or a delete of a name starting with `refused`."""

    @hookimpl
    def after_write(self, resource, action, record):
        if action in ("update", "delete") and record["name"].startswith("refused"):
            raise Conflict("refused by a domain rule")


class TestRolledBackWrites:
    @pytest.fixture
    def engine_plugins(self):
        return [RefuseSomeWrites()]

    async def test_concurrent_updates_rolled_back_after_their_sql_leave_no_version(self, api):
        alice = await api.as_user("alice")
        agent = (await alice.post("/api/agents", json={"name": "start"})).json["data"]
        names = [f"{'refused' if i % 3 == 0 else 'kept'}-{i}" for i in range(WRITERS)]
        statuses = await patch_all(alice, agent["id"], names)
        assert statuses == [409 if n.startswith("refused") else 200 for n in names]
        kept = [n for n in names if n.startswith("kept")]
        current = (await alice.get(f"/api/agents/{agent['id']}")).json["data"]
        assert_complete(await history(api, agent["id"]), current, kept)

    async def test_a_delete_rolled_back_after_its_sql_leaves_the_row_and_no_deletion_version(self, api):
        alice = await api.as_user("alice")
        agent = (await alice.post("/api/agents", json={"name": "refused delete"})).json["data"]
        assert (await alice.delete(f"/api/agents/{agent['id']}")).status == 409
        assert [v["version"] for v in await history(api, agent["id"])] == [1]
        assert (await alice.get(f"/api/agents/{agent['id']}")).status == 200
