"""Deadlines: a request past ENGINE_REQUEST_TIMEOUT is 504 and its query is cancelled in PostgreSQL;
a wait for a pool connection past ENGINE_POOL_TIMEOUT is 503; nothing hangs."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from aiohttp import web
from protection_support import eventually

from engine.features.timeouts.plugin import long_lived
from engine.http.keys import POOL
from engine.kernel.hooks import hookimpl

SPEC = os.path.join(os.path.dirname(__file__), "specs", "protection", "resources.yaml")


class SlowWrites:
    """A plugin whose before_write runs a long pg_sleep for notes titled "slow", and holds its
    connection until released for notes titled "hold"."""

    def __init__(self) -> None:
        self.marker = uuid.uuid4().hex
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    @hookimpl
    async def before_write(self, conn, resource, action, data):
        if resource.name != "notes" or action != "create":
            return
        if data.get("title") == "slow":
            await conn.execute(f"SELECT pg_sleep(60) /* {self.marker} */")
        elif data.get("title") == "hold":
            self.holding.set()
            await self.release.wait()


@pytest.fixture
def engine_spec_path() -> str:
    return SPEC


@pytest.fixture
def slow_writes() -> SlowWrites:
    return SlowWrites()


@pytest.fixture
def engine_plugins(slow_writes: SlowWrites) -> list:
    return [slow_writes]


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_REQUEST_TIMEOUT": "2", "ENGINE_RATE_LIMIT": "off"}


async def sleeping_queries(api, marker: str) -> list:
    return await api.sql(
        "select pid from pg_stat_activity where state = 'active' and query like $1 and pid <> pg_backend_pid()",
        f"%pg_sleep(60) /* {marker} */%",
    )


async def test_a_request_past_its_deadline_is_504(api, expect_problem):
    alice = await api.as_user("alice")
    body = expect_problem(await alice.post("/api/notes", json={"title": "slow"}), 504)
    assert "2 s" in body["detail"]


async def test_the_query_of_a_timed_out_request_is_cancelled_in_postgres(api, slow_writes):
    alice = await api.as_user("alice")
    assert (await alice.post("/api/notes", json={"title": "slow"})).status == 504
    await eventually(lambda: _none_left(api, slow_writes.marker), "the sleeping query to be cancelled")


async def _none_left(api, marker: str) -> bool:
    return not await sleeping_queries(api, marker)


async def test_a_timed_out_write_leaves_nothing_behind(api):
    alice = await api.as_user("alice")
    assert (await alice.post("/api/notes", json={"title": "slow"})).status == 504
    assert await api.sql("select * from notes") == []


async def test_the_pool_serves_the_next_request_after_a_timeout(api):
    alice = await api.as_user("alice")
    assert (await alice.post("/api/notes", json={"title": "slow"})).status == 504
    assert (await alice.post("/api/notes", json={"title": "fast"})).status == 201


async def test_the_statement_timeout_never_exceeds_the_deadline(api):
    assert await api.app[POOL].fetchval("show statement_timeout") == "2s"


class TestStatementTimeout:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_REQUEST_TIMEOUT": "30", "ENGINE_STATEMENT_TIMEOUT_MS": "300"}

    async def test_a_shorter_statement_timeout_is_kept(self, api):
        assert await api.app[POOL].fetchval("show statement_timeout") == "300ms"

    async def test_a_query_stopped_by_the_statement_timeout_is_504(self, api, expect_problem):
        alice = await api.as_user("alice")
        expect_problem(await alice.post("/api/notes", json={"title": "slow"}), 504)
        assert await api.sql("select * from notes") == []


class TestPoolWait:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {
            **engine_env,
            "ENGINE_REQUEST_TIMEOUT": "30",
            "ENGINE_POOL_SIZE": "1",
            "ENGINE_POOL_MIN_SIZE": "1",
            "ENGINE_POOL_TIMEOUT": "0.2",
        }

    async def test_waiting_too_long_for_a_connection_is_503_with_retry_after(self, api, slow_writes, expect_problem):
        alice = await api.as_user("alice")
        holder = asyncio.ensure_future(alice.post("/api/notes", json={"title": "hold"}))
        try:
            await asyncio.wait_for(slow_writes.holding.wait(), 10)
            refused = await alice.get("/api/notes")
            expect_problem(refused, 503)
            assert refused.headers["Retry-After"] == "1"
        finally:
            slow_writes.release.set()
        assert (await holder).status == 201

    async def test_the_pool_serves_again_once_a_connection_is_free(self, api, slow_writes):
        alice = await api.as_user("alice")
        slow_writes.release.set()
        assert (await alice.post("/api/notes", json={"title": "hold"})).status == 201
        assert (await alice.get("/api/notes")).status == 200


async def _sleep_past_the_deadline(request: web.Request) -> web.Response:
    await asyncio.sleep(2.5)
    return web.Response(text="done")


@long_lived
async def _stream_past_the_deadline(request: web.Request) -> web.Response:
    return await _sleep_past_the_deadline(request)


class SlowRoutes:
    @hookimpl
    def register_routes(self, app, spec):
        return [
            web.get("/test/slow", _sleep_past_the_deadline),
            web.get("/test/stream", _stream_past_the_deadline),
        ]


class TestLongLived:
    @pytest.fixture
    def engine_plugins(self, slow_writes: SlowWrites) -> list:
        return [slow_writes, SlowRoutes()]

    async def test_a_plain_route_is_cut_at_the_deadline(self, api, expect_problem):
        expect_problem(await api.anonymous.get("/test/slow"), 504)

    async def test_a_long_lived_route_may_outlive_the_deadline(self, api):
        assert (await api.anonymous.get("/test/stream")).text == "done"
