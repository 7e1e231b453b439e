"""The Redis circuit breaker: after consecutive failures Redis-backed features answer at once in
their degraded mode, and Redis is probed again with backoff.

Our own throwaway redis-server (never the shared one) is made unreachable for real: black-holed
by the fault proxy (no answer, no hang-up: every call would wait ENGINE_REDIS_TIMEOUT) or stopped
(connections refused). "At once" is shown without timing: once the breaker is open, the count of
calls that actually failed against Redis stays still while the count refused by the breaker grows.
"""

from __future__ import annotations

import asyncio
import logging
import shutil

import aiohttp
import pytest
from load.notes import SPEC, write_spec
from load.proxy import FaultProxy

from engine.db.breaker import CLOSED, OPEN
from engine.db.redis import REDIS

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed: the breaker tests need a Redis of their own to make unreachable",
)
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=20)
WAIT = 10.0  # seconds: a bound for what must happen, never a timing assertion


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    path = write_spec(tmp_path)
    with open(path, "w") as fh:
        fh.write(SPEC + "    cache: {ttl: 30}\n")
    return path


@pytest.fixture
async def redis_proxy(redis_server):
    proxy = FaultProxy("127.0.0.1", redis_server.port)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
def breaker_env(engine_env) -> dict[str, str]:
    return {
        **engine_env,
        "ENGINE_RATE_LIMIT": "100000/minute",
        "ENGINE_RATE_LIMIT_FAIL": "open",
        "ENGINE_REDIS_TIMEOUT": "0.25",
        "ENGINE_REDIS_BREAKER_FAILURES": "3",
        "ENGINE_REDIS_BREAKER_BACKOFF": "3600",  # no probe during the test unless it says otherwise
    }


async def traffic(client, count: int, tag: str) -> list[int]:
    statuses = []
    for i in range(count):
        statuses.append((await client.post("/api/notes", json={"ref": f"{tag}-{i}"}, timeout=CLIENT_TIMEOUT)).status)
        statuses.append((await client.get("/api/notes", timeout=CLIENT_TIMEOUT)).status)
    return statuses


async def until_state(api, client, state: str, tag: str) -> None:
    breaker = api.app[REDIS].breaker
    async with asyncio.timeout(WAIT):
        for i in range(10_000):
            if breaker.state == state:
                return
            await traffic(client, 1, f"{tag}-{i}")
            await asyncio.sleep(0.05)


class TestPartition:
    @pytest.fixture
    def engine_env(self, breaker_env, redis_proxy):
        return {**breaker_env, "REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}/0"}

    async def test_an_open_breaker_answers_without_waiting_on_redis(self, api, redis_proxy, caplog):
        caplog.set_level(logging.WARNING, logger="engine.redis")
        alice = await api.as_user("alice")
        breaker = api.app[REDIS].breaker
        assert set(await traffic(alice, 2, "before")) == {200, 201}
        redis_proxy.blackhole()
        try:
            await until_state(api, alice, OPEN, "opening")
            failed, refused = breaker.failures, breaker.refused
            statuses = await traffic(alice, 5, "during")
            assert statuses == [201, 200] * 5  # rate limits failed open, the cache was bypassed
            assert breaker.failures == failed, "a call went to Redis while the breaker was open"
            assert breaker.refused > refused
            metrics = await api.anonymous.get("/metrics")
            assert "engine_redis_breaker_state 2.0" in metrics.text
        finally:
            redis_proxy.heal()
        assert any("Redis circuit breaker open" in r.getMessage() for r in caplog.records)


class TestRecovery:
    @pytest.fixture
    def engine_env(self, breaker_env, redis_server):
        return {
            **breaker_env,
            "REDIS_URL": redis_server.url,
            "ENGINE_REDIS_BREAKER_BACKOFF": "0.1",
            "ENGINE_REDIS_BREAKER_MAX_BACKOFF": "0.4",
        }

    async def test_the_breaker_probes_with_backoff_and_closes_when_redis_is_back(self, api, redis_server, caplog):
        caplog.set_level(logging.WARNING, logger="engine.redis")
        alice = await api.as_user("alice")
        breaker = api.app[REDIS].breaker
        await asyncio.to_thread(redis_server.stop)
        await until_state(api, alice, OPEN, "down")
        first_delay = breaker.delay
        async with asyncio.timeout(WAIT):
            while breaker.delay == first_delay:  # a probe failed: the next one waits twice as long
                await traffic(alice, 1, f"probe-{breaker.refused}")
                await asyncio.sleep(0.05)
        assert breaker.delay == 2 * first_delay

        await asyncio.to_thread(redis_server.start)
        await until_state(api, alice, CLOSED, "back")

        assert breaker.delay == first_delay and breaker.failures == 0
        assert set(await traffic(alice, 2, "after")) == {200, 201}
        assert breaker.state == CLOSED
        assert any("Redis circuit breaker closed" in r.getMessage() for r in caplog.records)


class TestDegradedModes:
    @pytest.fixture
    def engine_env(self, breaker_env, redis_server):
        return {**breaker_env, "REDIS_URL": redis_server.url, "ENGINE_RATE_LIMIT_FAIL": "closed"}

    async def test_while_open_rate_limits_fail_closed_and_sessions_refuse_with_503(
        self, api, redis_server, expect_problem
    ):
        alice = await api.as_user("alice")
        breaker = api.app[REDIS].breaker
        await asyncio.to_thread(redis_server.stop)
        async with asyncio.timeout(WAIT):
            while breaker.state != OPEN:
                await alice.get("/api/notes")
        refused = breaker.refused

        limited = await alice.get("/api/notes")
        session = await api.anonymous.get("/auth/csrf", headers={"Cookie": "engine_session=some-session-id"})

        assert int(expect_problem(limited, 503) and limited.headers["Retry-After"]) >= 1
        assert "session store" in expect_problem(session, 503)["detail"]
        assert breaker.refused >= refused + 2
