"""Helpers for the protection and cache tests: Redis (the machine's, through REDIS_URL, or a private
redis-server a test may stop), a second engine app on the same schema, and bounded waiting.
Import the `*_fixture` names to use the fixtures.

Two apps in one test are two engine workers: each has its own plugin manager, pool, in-process
buckets and caches; they share only what real workers share (the database, Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from load.ports import free_port

from engine.features.query_cache.listener import CHANNEL
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.testing import Api

NO_REDIS_URL = (
    "REDIS_URL is not set: this test needs a real Redis shared by two engine apps "
    "(e.g. REDIS_URL=redis://127.0.0.1:6379/0)"
)
NO_REDIS_SERVER = (
    "redis-server is not installed: this test starts and stops a Redis of its own (apt-get install redis-server)"
)


@pytest.fixture(name="redis_url")
def redis_url_fixture() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip(NO_REDIS_URL)
    return url


@pytest.fixture(name="redis_prefix")
def redis_prefix_fixture() -> str:
    """Keys of one test never meet another's, on a Redis all tests share."""
    return f"test-{uuid.uuid4().hex[:12]}"


class PrivateRedis:
    """A redis-server on its own port that a test may stop and start again; its data survives the
    restart (append-only file), like a production Redis that was briefly unreachable."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = tempfile.mkdtemp(prefix="engine-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(
            [*command, "--dir", self.directory], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None


@pytest.fixture(name="private_redis")
def private_redis_fixture() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip(NO_REDIS_SERVER)
    redis = PrivateRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()
        shutil.rmtree(redis.directory, ignore_errors=True)


@pytest.fixture(name="second_api")
async def second_api_fixture(
    aiohttp_client: Any,
    engine_spec: Any,
    engine_env: dict[str, str],
    engine_database_url: str,
    engine_schema: str,
    engine_plugins: list[Any],
    api: Api,
) -> AsyncIterator[Api]:
    """Another engine app (another worker) on the same database schema and settings as `api`."""
    config = Config.from_env(
        engine_spec, env=engine_env, database_url=engine_database_url, db_schema=engine_schema, auto_migrate=False
    )
    client = await aiohttp_client(create_app(engine_spec, config, plugins=engine_plugins))
    yield Api(client, engine_spec, engine_database_url, engine_schema, engine_env)


async def eventually(condition: Callable[[], Any], what: str, within: float = 10.0) -> Any:
    """Wait (bounded) for something another connection delivers asynchronously, such as a NOTIFY."""
    give_up = time.monotonic() + within
    while time.monotonic() < give_up:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


@contextlib.asynccontextmanager
async def cache_notices(api: Api) -> AsyncIterator[list[str]]:
    """The payloads of the query cache's notices sent while the block runs, heard on a connection
    of the test's own (`<schema>:<resource>:<the write's token>`)."""
    heard: list[str] = []
    listening = await asyncpg.connect(api.database_url)
    try:
        await listening.add_listener(CHANNEL, lambda *args: heard.append(args[3]))
        yield heard
        await listening.fetchval("select 1")  # delivers what is queued for this connection
    finally:
        await listening.close()
