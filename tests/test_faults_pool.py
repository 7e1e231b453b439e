"""A saturated connection pool and a request past its deadline: answers, never hangs, never leaks.

A test plugin holds each "slow" write's transaction (and so its pool connection) open. With a
pool of two, further requests must get 503 problem with Retry-After once ENGINE_POOL_TIMEOUT
passed; a request running past ENGINE_REQUEST_TIMEOUT gets 504 and its write is rolled back.
Afterwards every connection is back in the pool and none is left idle in a transaction.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from load.notes import SLOW, SlowWrites, orphans, pool_settled, write_spec

from engine.http.keys import POOL

POOL_SIZE = 2
HOLD_S = 2.0
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=20)  # far beyond every engine deadline: reaching it is a hang


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    return write_spec(tmp_path)


@pytest.fixture
def slow_writes() -> SlowWrites:
    return SlowWrites(HOLD_S)


@pytest.fixture
def engine_plugins(slow_writes):
    return [slow_writes]


@pytest.fixture
def deadlines() -> dict[str, str]:
    return {"ENGINE_POOL_TIMEOUT": "0.5", "ENGINE_REQUEST_TIMEOUT": "10"}


@pytest.fixture
def engine_env(engine_env, engine_schema, deadlines):
    # The schema's name as the connections' application_name: the sessions this test's app left,
    # not those of a test running beside it on the same server.
    return {
        **engine_env,
        "ENGINE_POOL_SIZE": str(POOL_SIZE),
        "ENGINE_POOL_MIN_SIZE": "1",
        "ENGINE_DB_APPLICATION_NAME": engine_schema,
        **deadlines,
    }


async def _hold_every_connection(alice, slow_writes: SlowWrites) -> list[asyncio.Task]:
    holders = [
        asyncio.create_task(alice.post("/api/notes", json={"ref": f"hold-{i}", "body": SLOW}, timeout=CLIENT_TIMEOUT))
        for i in range(POOL_SIZE)
    ]
    for _ in range(100):
        if slow_writes.started == POOL_SIZE:
            return holders
        await asyncio.sleep(0.05)
    raise AssertionError("the slow writes never started")


async def test_exhausted_pool_answers_503_with_retry_after_instead_of_waiting(api, slow_writes):
    alice = await api.as_user("alice")
    holders = await _hold_every_connection(alice, slow_writes)
    refused = await asyncio.gather(
        alice.post("/api/notes", json={"ref": "extra-write"}, timeout=CLIENT_TIMEOUT),
        alice.get("/api/notes", timeout=CLIENT_TIMEOUT),
    )
    assert [r.status for r in refused] == [503, 503], [r.text for r in refused]
    for result in refused:
        assert result.headers["Content-Type"].startswith("application/problem+json")
        assert int(result.headers["Retry-After"]) >= 1
    assert sorted(r.status for r in await asyncio.gather(*holders)) == [201] * POOL_SIZE


async def test_routes_without_the_database_answer_while_the_pool_is_exhausted(api, slow_writes):
    alice = await api.as_user("alice")
    holders = await _hold_every_connection(alice, slow_writes)
    live = await api.anonymous.get("/healthz", timeout=CLIENT_TIMEOUT)
    assert live.status == 200
    assert slow_writes.finished == 0, "the pool was no longer exhausted when /healthz answered"
    await asyncio.gather(*holders)


async def test_pool_connections_all_return_after_exhaustion(api, slow_writes):
    alice = await api.as_user("alice")
    holders = await _hold_every_connection(alice, slow_writes)
    extra = [alice.post("/api/notes", json={"ref": f"x{i}"}, timeout=CLIENT_TIMEOUT) for i in range(6)]
    statuses = [r.status for r in await asyncio.gather(*extra, *holders)]
    assert set(statuses) <= {201, 503}, statuses
    assert await pool_settled(api.app[POOL])
    assert await orphans(api) == (0, 0)


@pytest.mark.parametrize("deadlines", [{"ENGINE_REQUEST_TIMEOUT": "0.5", "ENGINE_POOL_TIMEOUT": "0.2"}])
async def test_write_past_its_deadline_is_504_and_rolled_back(api):
    alice = await api.as_user("alice")
    result = await alice.post("/api/notes", json={"ref": "late", "body": SLOW}, timeout=CLIENT_TIMEOUT)
    assert result.status == 504, result.text
    assert result.headers["Content-Type"].startswith("application/problem+json")
    assert await api.sql("SELECT 1 FROM notes WHERE ref = 'late'") == []
    assert await orphans(api) == (0, 0)
    assert await pool_settled(api.app[POOL])
    stuck = await api.sql(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1"
        " AND state LIKE 'idle in transaction%' AND datname = current_database()",
        api.schema,
    )
    assert stuck[0]["n"] == 0
