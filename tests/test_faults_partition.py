"""PostgreSQL stops answering without hanging up (a partition): requests end at their deadline.

The engine reaches its own throwaway PostgreSQL through a fault proxy (tests/load/proxy.py). When
the proxy black-holes the traffic, nothing is refused, so only the engine's own deadlines can
end a request: every request must answer 503 or 504 problem instead of hanging, /healthz stays
200 while /readyz says 503, and once the partition ends the engine serves again by itself.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from load.notes import write_spec
from load.pg import ThrowawayPostgres
from load.proxy import FaultProxy

CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=20)  # far beyond the engine's deadlines: reaching it is a hang


@pytest.fixture(scope="module")
def throwaway_pg():
    with ThrowawayPostgres() as pg:
        yield pg


@pytest.fixture
async def proxy(throwaway_pg):
    fault = FaultProxy("127.0.0.1", throwaway_pg.port)
    await fault.start()
    yield fault
    await fault.close()


@pytest.fixture
def engine_database_url(proxy) -> str:
    return f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    return write_spec(tmp_path)


@pytest.fixture
def engine_env(engine_env):
    deadlines = {"ENGINE_REQUEST_TIMEOUT": "2", "ENGINE_POOL_TIMEOUT": "1", "ENGINE_READYZ_TIMEOUT": "1"}
    return {**engine_env, **deadlines}


async def _serves_writes_again(alice) -> bool:
    for attempt in range(60):
        result = await alice.post("/api/notes", json={"ref": f"after-{attempt}"}, timeout=CLIENT_TIMEOUT)
        if result.status == 201:
            return True
        await asyncio.sleep(0.5)
    return False


async def test_partitioned_database_requests_end_at_the_deadline_and_the_engine_recovers(api, proxy):
    alice = await api.as_user("alice")
    assert (await alice.post("/api/notes", json={"ref": "before"})).status == 201
    proxy.blackhole()
    try:
        answers = await asyncio.gather(
            *[alice.post("/api/notes", json={"ref": f"during-{i}"}, timeout=CLIENT_TIMEOUT) for i in range(3)],
            *[alice.get("/api/notes", timeout=CLIENT_TIMEOUT) for _ in range(3)],
        )
        health = await api.anonymous.get("/healthz", timeout=CLIENT_TIMEOUT)
        ready = await api.anonymous.get("/readyz", timeout=CLIENT_TIMEOUT)
    finally:
        proxy.heal()
    assert {a.status for a in answers} <= {503, 504}, [(a.status, a.text[:200]) for a in answers]
    assert all(a.headers["Content-Type"].startswith("application/problem+json") for a in answers)
    assert (health.status, ready.status) == (200, 503)
    assert await _serves_writes_again(alice), "the engine did not recover once the partition ended"
