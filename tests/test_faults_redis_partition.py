"""Redis stops answering without hanging up: requests still succeed, bounded by ENGINE_REDIS_TIMEOUT.

The engine reaches our throwaway redis-server through the fault proxy (tests/load/proxy.py). While
the proxy black-holes the traffic, every Redis call can only end by the engine's own socket
timeout: with the limiter failing open, writes and reads still succeed (the cache is bypassed);
once the partition ends, Redis is used again.
"""

from __future__ import annotations

import shutil
import time

import aiohttp
import pytest
from load.notes import SPEC, write_spec
from load.proxy import FaultProxy
from redis.asyncio import Redis

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed: the Redis-partition test needs a Redis of its own behind a proxy",
)
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=20)  # far beyond ENGINE_REDIS_TIMEOUT: reaching it is a hang


@pytest.fixture
async def redis_proxy(redis_server):
    proxy = FaultProxy("127.0.0.1", redis_server.port)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    path = write_spec(tmp_path)
    with open(path, "w") as fh:
        fh.write(SPEC + "    cache: {ttl: 30}\n")
    return path


@pytest.fixture
def engine_env(engine_env, redis_proxy):
    return {
        **engine_env,
        "REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}/0",
        "ENGINE_RATE_LIMIT": "100000/minute",
        "ENGINE_RATE_LIMIT_FAIL": "open",
        "ENGINE_REDIS_TIMEOUT": "0.25",
    }


async def test_partitioned_redis_still_lets_writes_and_reads_succeed(api, redis_server, redis_proxy):
    alice = await api.as_user("alice")
    assert (await alice.post("/api/notes", json={"ref": "before"})).status == 201
    client = Redis.from_url(redis_server.url)
    try:
        assert await client.dbsize() > 0, "the engine kept nothing in Redis: the partition would test nothing"
    finally:
        await client.aclose()
    redis_proxy.blackhole()
    started = time.perf_counter()
    try:
        during = [
            (await alice.post("/api/notes", json={"ref": f"during-{i}"}, timeout=CLIENT_TIMEOUT)).status
            for i in range(5)
        ] + [(await alice.get("/api/notes", timeout=CLIENT_TIMEOUT)).status for _ in range(5)]
    finally:
        redis_proxy.heal()
    print(f"10 requests during the partition took {time.perf_counter() - started:.2f} s in all")
    assert during == [201] * 5 + [200] * 5
    after = await alice.get("/api/notes?limit=50", timeout=CLIENT_TIMEOUT)
    assert after.status == 200 and len(after.json["data"]) == 6
