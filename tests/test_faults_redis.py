"""Redis stops under load: the engine does what ENGINE_RATE_LIMIT_FAIL says, never a 500, and heals.

Rate limits and the query cache live in our own throwaway redis-server (never the shared one).
It is stopped while a client keeps writing and reading, then started again. With the limiter
failing open, every request still succeeds (the cache is bypassed, answers come from PostgreSQL);
failing closed, rate-limited requests get 503 problem with Retry-After. Either way nothing
acknowledged is lost and requests succeed again once Redis is back, without a restart (as soon
as the circuit breaker, open since the outage began, has probed Redis: ENGINE_REDIS_BREAKER_BACKOFF).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil

import pytest
from load.ledger import Ledger, timed_write
from load.notes import SPEC, orphans, write_spec
from redis.asyncio import Redis

from engine.db.breaker import CLOSED
from engine.db.redis import REDIS

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed: the Redis-outage tests need a Redis of their own to stop",
)
CLIENT_TIMEOUT = 15


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    path = write_spec(tmp_path)
    with open(path, "w") as fh:
        fh.write(SPEC + "    cache: {ttl: 30}\n")
    return path


@pytest.fixture
def fail_mode() -> str:
    return "open"


@pytest.fixture
def engine_env(engine_env, redis_server, fail_mode):
    return {
        **engine_env,
        "REDIS_URL": redis_server.url,
        "ENGINE_RATE_LIMIT": "100000/minute",
        "ENGINE_RATE_LIMIT_FAIL": fail_mode,
        "ENGINE_REDIS_TIMEOUT": "0.25",
    }


async def _traffic(alice, ledger: Ledger, refs, reads: list[int], rounds: int) -> None:
    for _ in range(rounds):
        ref = next(refs)
        await timed_write(alice, "/api/notes", {"ref": ref}, ref, ledger, CLIENT_TIMEOUT)
        reads.append((await alice.get("/api/notes?sort=-created_at&limit=5")).status)


async def _outage(api, redis_server) -> tuple[Ledger, list[int], list[int]]:
    """Traffic before, during and after the outage; returns the ledger, the reads during and after."""
    alice = await api.as_user("alice")
    ledger, refs, before, during, after = Ledger(), (f"r{i}" for i in itertools.count()), [], [], []
    await _traffic(alice, ledger, refs, before, 10)
    assert set(before) == {200} and set(ledger.statuses) == {201}
    client = Redis.from_url(redis_server.url)
    try:
        assert await client.dbsize() > 0, "the engine kept nothing in Redis: the outage would test nothing"
    finally:
        await client.aclose()
    await asyncio.to_thread(redis_server.stop)
    await _traffic(alice, ledger, refs, during, 20)
    await asyncio.to_thread(redis_server.start)
    await _until_redis_is_used_again(api, alice)
    await _traffic(alice, ledger, refs, after, 10)
    return ledger, during, after


async def _until_redis_is_used_again(api, alice) -> None:
    """The circuit breaker opened during the outage: reads (not in the ledger) until its probe,
    after the backoff, finds Redis back and closes it."""
    breaker = api.app[REDIS].breaker
    async with asyncio.timeout(CLIENT_TIMEOUT):
        while breaker.state != CLOSED:
            await alice.get("/api/notes?limit=1")
            await asyncio.sleep(0.05)


async def test_with_redis_down_failing_open_every_request_still_succeeds(api, redis_server):
    ledger, during, after = await _outage(api, redis_server)
    assert set(during) == {200} and set(after) == {200}
    assert dict(ledger.statuses) == {201: 40}, ledger.statuses
    rows = await api.sql("SELECT ref FROM notes")
    assert ledger.reconcile([r["ref"] for r in rows])["lost"] == 0
    assert await orphans(api) == (0, 0)


@pytest.mark.parametrize("fail_mode", ["closed"])
async def test_with_redis_down_failing_closed_requests_get_503_and_recover(api, redis_server):
    ledger, during, after = await _outage(api, redis_server)
    assert set(during) == {503}, during
    assert not ledger.problems, ledger.problems[:3]  # every 503 was problem+json with Retry-After
    assert ledger.statuses[503] == 20
    assert set(after) == {200} and ledger.statuses[201] == 20
    rows = await api.sql("SELECT ref FROM notes")
    figures = ledger.reconcile([r["ref"] for r in rows])
    assert (figures["lost"], figures["indeterminate_present"]) == (0, 0), figures
