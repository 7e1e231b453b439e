"""While PostgreSQL is down /readyz says 503; once it is back the engine recovers without a restart.

These tests stop and start a PostgreSQL of their own (ThrowawayPostgres), never the shared one.
"""

import asyncio
import os

import asyncpg
import pytest
from ops_support import ThrowawayPostgres

OPS_SPEC = os.path.join(os.path.dirname(__file__), "specs", "ops", "resources.yaml")
RECOVERY_DEADLINE = 30.0  # seconds for the pool to reconnect: generous on a shared machine


@pytest.fixture
def engine_spec_path():
    return OPS_SPEC


@pytest.fixture(scope="module")
def postgres():
    server = ThrowawayPostgres()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def engine_database_url(postgres):
    return postgres.url


@pytest.fixture
async def engine_schema(postgres):
    """A schema on the private server; dropped on a new connection, the restart closes every old one."""
    conn = await asyncpg.connect(postgres.url)
    try:
        await conn.execute('CREATE SCHEMA "ops_restart"')
    finally:
        await conn.close()
    yield "ops_restart"
    conn = await asyncpg.connect(postgres.url)
    try:
        await conn.execute('DROP SCHEMA "ops_restart" CASCADE')
    finally:
        await conn.close()


async def status_of(client, path: str) -> int:
    return (await client.get(path)).status


async def eventually(client, path: str, status: int) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + RECOVERY_DEADLINE
    while await status_of(client, path) != status:
        assert loop.time() < give_up, f"{path} never answered {status}"
        await asyncio.sleep(0.2)


async def test_readyz_is_503_while_postgres_is_down_and_200_once_it_is_back(api, postgres):
    assert await status_of(api.anonymous, "/readyz") == 200
    await asyncio.to_thread(postgres.stop)
    try:
        down = await api.anonymous.get("/readyz")
        assert down.status == 503
        assert "database is not reachable" in down.json["detail"]
        assert await status_of(api.anonymous, "/healthz") == 200
    finally:
        await asyncio.to_thread(postgres.start)
    await eventually(api.anonymous, "/readyz", 200)


async def test_requests_get_503_while_postgres_is_down_and_succeed_once_it_is_back(api, postgres):
    assert await status_of(api.anonymous, "/api/notes") == 200
    await asyncio.to_thread(postgres.stop)
    try:
        down = await api.anonymous.get("/api/notes")
        assert down.status == 503
        assert down.headers["Retry-After"] == "1"
    finally:
        await asyncio.to_thread(postgres.start)
    await eventually(api.anonymous, "/api/notes", 200)
