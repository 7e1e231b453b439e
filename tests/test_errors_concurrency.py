"""A deadlock between two writes is the database refusing one of them: the client gets a 409 it can
retry, never a 500, and nothing of the refused write is stored."""

import asyncio

import pytest

from engine import hookimpl


class CrossLocking:
    """Each update, after locking its own row, waits for the other and then locks the other's row."""

    def __init__(self):
        self.barrier = asyncio.Barrier(2)

    @hookimpl
    async def before_write(self, conn, resource, action, data, previous):
        if resource.name != "agents" or action != "update" or not data.get("name", "").startswith("lock:"):
            return
        await asyncio.wait_for(self.barrier.wait(), 10)
        await conn.execute("SELECT 1 FROM agents WHERE id = $1 FOR UPDATE", data["name"][5:])


@pytest.fixture
def engine_plugins():
    return [CrossLocking()]


async def test_a_deadlocked_write_is_a_retryable_409_and_the_other_succeeds(api):
    alice = await api.as_user("alice")
    first = (await alice.post("/api/agents", json={"name": "one"})).json["data"]["id"]
    second = (await alice.post("/api/agents", json={"name": "two"})).json["data"]["id"]

    results = await asyncio.gather(
        alice.patch(f"/api/agents/{first}", json={"name": f"lock:{second}"}),
        alice.patch(f"/api/agents/{second}", json={"name": f"lock:{first}"}),
    )

    statuses = sorted(r.status for r in results)
    assert statuses == [200, 409]
    refused = next(r for r in results if r.status == 409)
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert "Retry-After" in refused.headers
    names = {row["name"] for row in await api.sql("SELECT name FROM agents")}
    assert len(names & {f"lock:{first}", f"lock:{second}"}) == 1
