"""The engine behind PgBouncer in transaction pooling mode (engine.db.pooler).

These run through the session's pgbouncer whatever TEST_PGBOUNCER says; `TEST_PGBOUNCER=1` runs
whole suites (CRUD, events, faults) through it too (.ci/run).
"""

from __future__ import annotations

import asyncio

import pytest
from events_support import open_stream
from prometheus_client import REGISTRY

from engine.db import pooler
from engine.http.app import create_app
from engine.http.keys import MANAGERS, POOLER
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.kernel.identity import Identity
from engine.testing import Api, create_tables


@pytest.fixture
async def bounced(engine_spec, engine_env, engine_database_url, engine_schema, pgbouncer, aiohttp_client):
    """An app whose DATABASE_URL is a pgbouncer alias with two server connections (so clients share them)."""
    await create_tables(engine_database_url, engine_schema, engine_spec)
    url = pgbouncer.add(f"{engine_schema}_small", engine_database_url, engine_schema, pool_size=2)
    config = Config.from_env(
        engine_spec,
        env=engine_env,
        database_url=url,
        listen_database_url=engine_database_url,
        db_schema=engine_schema,
        auto_migrate=False,
        pool_max_size=10,
    )
    client = await aiohttp_client(create_app(engine_spec, config))
    yield Api(client, engine_spec, engine_database_url, engine_schema, engine_env)
    await client.close()
    pgbouncer.remove(f"{engine_schema}_small")


async def test_pgbouncer_in_front_is_detected(bounced):
    assert bounced.app[POOLER] == "pgbouncer"


async def test_a_direct_connection_is_not_taken_for_a_pooler(engine_database_url):
    assert await pooler.detect(engine_database_url) == "none"


async def test_concurrent_requests_sharing_two_server_connections_all_succeed(bounced):
    """Ten engine connections over two server connections: a statement prepared on one and run on
    another would fail ("prepared statement does not exist"); without the statement cache none is."""
    alice = await bounced.as_user("alice")

    async def create_and_read(i: int) -> tuple[int, int]:
        created = await alice.post("/api/agents", json={"name": f"agent {i}"})
        assert created.status == 201, created.text
        read = await alice.get(f"/api/agents/{created.json['data']['id']}")
        return created.status, read.status

    results = await asyncio.gather(*(create_and_read(i) for i in range(60)))
    assert results == [(201, 200)] * 60
    listed = await alice.get("/api/agents?limit=100")
    assert len(listed.json["data"]) == 60


async def test_reads_started_together_are_answered_together_through_pgbouncer(bounced):
    """The combined statement's parameter types are asked with an unnamed prepare, which transaction
    pooling allows (engine.db.coalesce); each caller still gets its own row."""
    alice, bob = await bounced.as_user("alice"), await bounced.as_user("bob")
    mine = [
        (await who.post("/api/agents", json={"name": name})).json["data"] for who, name in ((alice, "a"), (bob, "b"))
    ]
    manager = bounced.app[MANAGERS]["agents"]
    before = REGISTRY.get_sample_value("engine_db_combined_reads_total") or 0.0

    found = await asyncio.gather(*(manager.get(row["id"], Identity(user_id=row["user_id"])) for row in mine * 3))

    assert [row["name"] for row in found] == ["a", "b"] * 3
    assert (REGISTRY.get_sample_value("engine_db_combined_reads_total") or 0.0) - before == 6


async def test_writes_started_together_commit_together_through_pgbouncer(bounced):
    """The pipeline of unnamed statements (Parse with every Bind) and its one Sync stay on one
    server connection: transaction pooling hands the connection over only after the Sync."""
    alice, bob = await bounced.as_user("alice"), await bounced.as_user("bob")
    manager = bounced.app[MANAGERS]["agents"]
    before = REGISTRY.get_sample_value("engine_db_combined_writes_total") or 0.0
    callers = [Identity(user_id=who) for who in ("alice", "bob")] * 4

    created = await asyncio.gather(*(manager.create({"name": f"agent {n}"}, who) for n, who in enumerate(callers)))

    assert [row["user_id"] for row in created] == [who.user_id for who in callers]
    assert (REGISTRY.get_sample_value("engine_db_combined_writes_total") or 0.0) - before == len(callers)
    assert len((await alice.get("/api/agents?limit=100")).json["data"]) == 4
    assert len((await bob.get("/api/agents?limit=100")).json["data"]) == 4


async def test_a_write_through_pgbouncer_reaches_the_event_stream(bounced):
    alice = await bounced.as_user("alice")
    async with open_stream(bounced, alice) as stream:
        created = await alice.post("/api/agents", json={"name": "Heard"})
        event = await stream.next_event()
    assert created.status == 201
    assert created.json["data"]["id"] in event.data


async def test_pgbouncer_without_a_direct_listen_url_stops_the_start():
    with pytest.raises(ConfigurationError, match="ENGINE_LISTEN_DATABASE_URL"):
        pooler.session_url(pooler.PGBOUNCER, "postgresql://bouncer/db", None)


async def test_a_pooler_whose_connections_use_another_schema_stops_the_start(
    pgbouncer, engine_database_url, engine_schema
):
    url = pgbouncer.add(f"{engine_schema}_public", engine_database_url, None)
    try:
        with pytest.raises(ConfigurationError, match="search_path"):
            await pooler.check_session_defaults(url, engine_schema, 30_000)
    finally:
        pgbouncer.remove(f"{engine_schema}_public")
