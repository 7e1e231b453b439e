"""Read replicas with read-your-writes (engine.db.replicas, engine.features.replicas), against a real
streaming replica: a throwaway primary and a hot standby made from it with pg_basebackup -R."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from load.pg import ThrowawayPostgres
from load.replica import ThrowawayStandby
from prometheus_client import REGISTRY

from engine.db.replicas import Replica, Replicas, lsn_text, parse_lsn, read_after, reset_read_after
from engine.features.replicas.plugin import HEADER
from engine.http.keys import MANAGERS, READS
from engine.kernel.errors import NotFound
from engine.kernel.identity import Identity

WAIT = 30.0  # seconds: a generous bound for what must happen, never a timing assertion
ANY_REPLICA = {HEADER: "0/0"}  # a client that wrote nothing: any replica in time may answer
_REPLAYED = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"


@pytest.fixture(scope="module")
def primary():
    with ThrowawayPostgres() as pg:
        yield pg


@pytest.fixture(scope="module")
def standby(primary):
    replica = ThrowawayStandby(primary)
    replica.start()
    try:
        yield replica
    finally:
        replica.close()


@pytest.fixture(scope="module")
def engine_database_url(primary) -> str:
    return primary.url


@pytest.fixture
def engine_env(engine_env, standby, request):
    return {
        **engine_env,
        "DATABASE_REPLICA_URLS": standby.url,
        "ENGINE_REPLICA_CHECK_INTERVAL": "0.05",
        # A paused replica falls behind by the test's own duration: on a loaded machine that can pass
        # the default 5 s, and the read the test expects from the paused replica would go to the primary.
        "ENGINE_REPLICA_MAX_LAG": "120",
        "ENGINE_RATE_LIMIT": "off",  # the load test reads as fast as it can
        **getattr(request, "param", {}),  # a test's own settings: parametrize("engine_env", [...], indirect=True)
    }


# The replica's check runs once, at start-up: what the router knows of a later write, it learnt from asking.
CHECKED_ONCE = pytest.mark.parametrize("engine_env", [{"ENGINE_REPLICA_CHECK_INTERVAL": "3600"}], indirect=True)


async def _on_standby(standby: ThrowawayStandby, sql: str) -> None:
    conn = await asyncpg.connect(standby.url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def _replay_paused(standby: ThrowawayStandby) -> AsyncIterator[None]:
    """The standby replays nothing within the block (it receives the WAL, and replays it after)."""
    await _on_standby(standby, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        await _on_standby(standby, "SELECT pg_wal_replay_resume()")


async def _caught_up(api) -> None:
    """Until the replica has replayed everything the primary had when this was called."""
    reads = api.app[READS]
    target = await reads.current_lsn()
    async with asyncio.timeout(WAIT):
        while not (reads.replicas[0].up and reads.replicas[0].replayed >= target):
            await reads.checked.wait()


async def _replayed_by_standby(standby: ThrowawayStandby, position: int) -> None:
    """Until the standby itself (asked on a connection of the test's own) has replayed `position`."""
    conn = await asyncpg.connect(standby.url)
    try:
        async with asyncio.timeout(WAIT):
            while await conn.fetchval(_REPLAYED) < position:  # noqa: ASYNC110 - replay sets no event to await
                await asyncio.sleep(0.01)
    finally:
        await conn.close()


async def _reads(api, target: str, reason: str) -> float:
    """engine_db_reads_total{target, reason}, from GET /metrics."""
    text = (await api.anonymous.get("/metrics")).text
    found = re.search(rf'engine_db_reads_total\{{reason="{reason}",target="{target}"\}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


async def _replica_reads(api) -> float:
    return await _reads(api, "replica", "replica")


def _combined_reads() -> float:
    return REGISTRY.get_sample_value("engine_db_combined_reads_total") or 0.0


async def _create_agent(client, name: str):
    created = await client.post("/api/agents", json={"name": name})
    assert created.status == 201, created.text
    return created


def test_wal_positions_read_back_as_postgresql_writes_them():
    assert lsn_text(parse_lsn("16/B374D848")) == "16/B374D848"
    assert parse_lsn("0/0") == 0


@pytest.mark.parametrize("text", ["", "16", "16/", "/B3", "zz/1", "1/2/3", "123456789/0"])
def test_a_token_that_is_not_a_wal_position_is_refused(text):
    assert parse_lsn(text) is None


async def test_a_write_answers_with_its_consistency_token(api):
    alice = await api.as_user("alice")
    created = await _create_agent(alice, "Tokened")
    token = parse_lsn(created.headers[HEADER])
    assert token is not None and token > 0
    assert created.headers.get("Set-Cookie", "").startswith("engine_consistency=")


async def test_reads_without_a_recent_write_are_served_by_the_replica(api):
    alice = await api.as_user("alice")
    await _create_agent(alice, "Replicated")
    await _caught_up(api)
    before = await _replica_reads(api)
    listed = await alice.get("/api/agents", headers=ANY_REPLICA)
    assert [row["name"] for row in listed.json["data"]] == ["Replicated"]
    assert await _replica_reads(api) > before


async def test_a_client_reads_its_own_write_while_the_replica_lags(api, standby):
    alice = await api.as_user("alice")
    await _caught_up(api)
    async with _replay_paused(standby):
        created = await _create_agent(alice, "Fresh")
        path = f"/api/agents/{created.json['data']['id']}"
        mine = await alice.get(path, headers={HEADER: created.headers[HEADER]})
        elsewhere = await alice.get(path, headers=ANY_REPLICA)
    assert mine.status == 200, "the writer's next read saw its write (the primary served it)"
    assert elsewhere.status == 404, "without the token the paused replica answered: it had not replayed the write"


async def _read_after(position: int, read):
    """`read` in a task whose reads may use a replica that has replayed `position` (as the middleware sets it)."""
    token = read_after(position)
    try:
        return await read
    finally:
        reset_read_after(token)


async def test_reads_started_together_are_answered_together_by_the_replica(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    agents = [(await _create_agent(who, name)).json["data"] for who, name in ((alice, "A"), (bob, "B"))]
    await _caught_up(api)
    manager = api.app[MANAGERS]["agents"]
    before, combined = await _replica_reads(api), _combined_reads()

    found = await asyncio.gather(
        *(_read_after(0, manager.get(row["id"], Identity(user_id=row["user_id"]))) for row in agents * 2)
    )

    assert [row["id"] for row in found] == [row["id"] for row in agents * 2]
    assert await _replica_reads(api) == before + 4, "each read counted, on the replica"
    assert _combined_reads() == combined + 4


async def test_a_read_that_must_see_its_write_never_meets_one_that_need_not(api, standby):
    alice = await api.as_user("alice")
    await _caught_up(api)
    async with _replay_paused(standby):
        created = await _create_agent(alice, "Fresh")
        manager, agent = api.app[MANAGERS]["agents"], created.json["data"]["id"]
        position = parse_lsn(created.headers[HEADER])
        # The same statement with the same values: only where each may be read from tells them apart.
        mine, elsewhere = await asyncio.gather(
            _read_after(position, manager.get(agent, Identity(user_id="alice"))),
            _read_after(0, manager.get(agent, Identity(user_id="alice"))),
            return_exceptions=True,
        )
    assert mine["name"] == "Fresh", "the writer's read went to the primary"
    assert isinstance(elsewhere, NotFound), "the other read went to the paused replica, alone"


@CHECKED_ONCE
async def test_a_token_the_replica_replayed_since_its_last_check_is_read_from_the_replica(api, standby):
    alice = await api.as_user("alice")
    created = await _create_agent(alice, "Replayed")
    token = created.headers[HEADER]
    await _replayed_by_standby(standby, parse_lsn(token))
    replica = api.app[READS].replicas[0]
    assert replica.replayed < parse_lsn(token), "the check saw the write: this test would prove nothing"
    asked_before = await _reads(api, "replica", "caught_up")
    read = await alice.get(f"/api/agents/{created.json['data']['id']}", headers={HEADER: token})
    assert read.status == 200 and read.json["data"]["name"] == "Replayed"
    assert await _reads(api, "replica", "caught_up") == asked_before + 1, "the replica, asked, served the read"
    assert replica.replayed >= parse_lsn(token), "its answer is the position the next reads are routed by"


@CHECKED_ONCE
async def test_a_token_the_replica_has_not_replayed_is_read_from_the_primary(api, standby):
    alice = await api.as_user("alice")
    async with _replay_paused(standby):
        behind_before = await _reads(api, "primary", "behind_token")
        created = await _create_agent(alice, "Unreplayed")
        path = f"/api/agents/{created.json['data']['id']}"
        mine = await alice.get(path, headers={HEADER: created.headers[HEADER]})
    assert mine.status == 200 and mine.json["data"]["name"] == "Unreplayed"
    assert await _reads(api, "primary", "behind_token") == behind_before + 1, "the replica, asked, was behind"


@CHECKED_ONCE
async def test_a_token_read_from_a_replica_stopped_since_its_last_check_is_answered_by_the_primary(api, standby):
    alice = await api.as_user("alice")
    created = await _create_agent(alice, "Asked a stopped replica")
    failed_before = await _reads(api, "primary", "replica_failed")
    await asyncio.to_thread(standby.stop, "fast")
    try:
        read = await alice.get(f"/api/agents/{created.json['data']['id']}", headers={HEADER: created.headers[HEADER]})
    finally:
        await asyncio.to_thread(standby.start)
    assert read.status == 200 and read.json["data"]["name"] == "Asked a stopped replica"
    assert await _reads(api, "primary", "replica_failed") == failed_before + 1, "the replica was asked, and failed"


async def test_a_token_the_last_check_covers_is_read_from_the_replica_without_asking(api):
    alice = await api.as_user("alice")
    created = await _create_agent(alice, "Covered")
    await _caught_up(api)
    asked_before, served_before = await _reads(api, "replica", "caught_up"), await _replica_reads(api)
    read = await alice.get(f"/api/agents/{created.json['data']['id']}", headers={HEADER: created.headers[HEADER]})
    assert read.status == 200
    assert await _replica_reads(api) == served_before + 1
    assert await _reads(api, "replica", "caught_up") == asked_before, "no question for a token the check covers"


async def test_event_history_reads_the_writers_own_event_while_the_replica_lags(api, standby):
    alice = await api.as_user("alice")
    await _caught_up(api)
    async with _replay_paused(standby):
        created = await _create_agent(alice, "Evented")
        mine = await alice.get("/api/events?resource=agents", headers={HEADER: created.headers[HEADER]})
        elsewhere = await alice.get("/api/events?resource=agents", headers=ANY_REPLICA)
    assert [e["record_id"] for e in mine.json["data"]] == [created.json["data"]["id"]]
    assert elsewhere.json["data"] == [], "the paused replica answered the read without a token"


@pytest.mark.parametrize("mode", ["exact", "estimated"])
async def test_a_writers_count_includes_its_own_write_while_the_replica_lags(api, standby, mode):
    alice = await api.as_user("alice")
    await _create_agent(alice, "Counted before")
    await _caught_up(api)
    async with _replay_paused(standby):
        created = await _create_agent(alice, "Counted after")
        mine = await alice.get(f"/api/agents?count={mode}&limit=1", headers={HEADER: created.headers[HEADER]})
        elsewhere = await alice.get(f"/api/agents?count={mode}&limit=1", headers=ANY_REPLICA)
    assert (mine.json["meta"]["total"], mine.json["meta"]["total_is"]) == (2, "exact")
    assert elsewhere.json["meta"]["total"] == 1, "without the token the paused replica counted: it missed the write"


async def test_a_writers_groups_include_its_own_write_while_the_replica_lags(api, standby):
    alice = await api.as_user("alice")
    await _create_agent(alice, "Grouped before")
    await _caught_up(api)
    async with _replay_paused(standby):
        created = await _create_agent(alice, "Grouped after")
        path = "/api/agents?group_by=status&aggregate=count"
        mine = await alice.get(path, headers={HEADER: created.headers[HEADER]})
        elsewhere = await alice.get(path, headers=ANY_REPLICA)
    assert sum(group["count"] for group in mine.json["data"]) == 2
    assert sum(group["count"] for group in elsewhere.json["data"]) == 1, "the paused replica grouped the rows"


UNREPLAYED_READS = {
    # a list or a read goes through `fetch`; counts and groups through `run` (engine.db.replicas)
    "fetch": lambda reads, table: reads.fetch(f"SELECT n FROM {table} ORDER BY n"),
    "run": lambda reads, table: reads.run(lambda conn: conn.fetch(f"SELECT n FROM {table} ORDER BY n")),
}


@pytest.mark.parametrize("how", sorted(UNREPLAYED_READS))
async def test_a_table_the_replica_has_not_replayed_yet_is_read_from_the_primary(api, standby, how):
    """A migration applied on the primary reaches the replica later: a read meanwhile must not fail."""
    reads = api.app[READS]
    await _caught_up(api)
    failed_before = await _reads(api, "primary", "replica_failed")
    async with _replay_paused(standby):
        await api.sql("CREATE TABLE fresh_table (n int)")
        await api.sql("INSERT INTO fresh_table VALUES (2), (7)")
        marked = read_after(0)
        try:
            rows = await UNREPLAYED_READS[how](reads, f'"{api.schema}".fresh_table')
        finally:
            reset_read_after(marked)
    assert [r["n"] for r in rows] == [2, 7]
    assert await _reads(api, "primary", "replica_failed") > failed_before, "the replica was tried first"


async def one_connection_router(api, standby, statement_timeout_ms: int) -> Replicas:
    """A router of its own on the standby: one read connection, checks only when a test asks."""
    return await Replicas.open(
        api.app[READS].primary, [standby.url], pool_size=1, statement_timeout_ms=statement_timeout_ms, schema=None,
        pooler="none", max_lag=None, interval=60.0,
    )  # fmt: skip


async def test_a_read_past_its_statement_deadline_on_a_replica_fails_as_on_the_primary(api, standby):
    """57014 is the statement's deadline, not the replica's failure: no second run, the replica stays in use."""
    await _caught_up(api)
    router = await one_connection_router(api, standby, statement_timeout_ms=20)
    marked = read_after(0)
    try:
        with pytest.raises(asyncpg.QueryCanceledError):
            await router.fetch("SELECT pg_sleep(5)")
        with pytest.raises(asyncpg.QueryCanceledError):
            await router.run(lambda conn: conn.fetchval("SELECT pg_sleep(5)"))
        assert router.replicas[0].up
    finally:
        reset_read_after(marked)
        await router.close()


async def test_a_replica_with_no_free_connection_sends_the_read_to_the_primary_and_stays_in_use(api, standby):
    """Slow reads (exact counts) filling a replica's pool make it busy, not down: its checks have their own link."""
    await _caught_up(api)
    router = await one_connection_router(api, standby, statement_timeout_ms=0)
    marked = read_after(0)
    try:
        async with router.replicas[0].pool.acquire():  # its only read connection, held by a slow read
            in_recovery = await router.fetchval("SELECT pg_is_in_recovery()")
            await router.check()
        assert in_recovery is False, "the primary answered"
        assert router.replicas[0].up
    finally:
        reset_read_after(marked)
        await router.close()


async def test_the_token_travels_in_a_cookie_for_clients_that_keep_cookies(api, standby):
    alice = await api.as_user("alice")
    await _caught_up(api)
    async with _replay_paused(standby):
        created = await _create_agent(alice, "Cookie")
        read = await alice.get(f"/api/agents/{created.json['data']['id']}")  # the test client keeps cookies
    assert read.status == 200


async def test_readyz_reports_each_replica(api, standby):
    await _caught_up(api)
    ready = await api.anonymous.get("/readyz")
    assert ready.status == 200
    [replica] = ready.json["replicas"]
    assert replica["replica"] == f"127.0.0.1:{standby.port}/postgres"
    assert replica["status"] == "ok"
    assert {"lag_seconds", "lag_bytes", "replayed"} <= set(replica)


async def test_a_replica_stopped_and_restarted_under_load_costs_no_read(api, standby):
    alice = await api.as_user("alice")
    created = await _create_agent(alice, "Steady")
    path = f"/api/agents/{created.json['data']['id']}"
    await _caught_up(api)
    statuses: list[int] = []
    stop = asyncio.Event()

    async def reader() -> None:
        while not stop.is_set() and len(statuses) < 20_000:
            statuses.append((await alice.get(path, headers=ANY_REPLICA)).status)

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    try:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(standby.stop, "fast")
        await asyncio.sleep(0.5)
        down = await api.anonymous.get("/readyz")
        await asyncio.to_thread(standby.start)
        await _caught_up(api)
        before = await _replica_reads(api)
        await asyncio.sleep(0.3)
        after = await _replica_reads(api)
    finally:
        stop.set()
        await asyncio.gather(*readers)
    assert statuses and set(statuses) == {200}, f"{len(statuses)} reads: {sorted(set(statuses))}"
    assert down.status == 200 and down.json["replicas"][0]["status"] == "down"
    assert after > before, "the restarted replica serves reads again"


async def test_a_replica_url_that_is_not_a_standby_serves_no_read(api, primary):
    lone = await Replicas.open(
        api.app[READS].primary, [primary.url], pool_size=1, statement_timeout_ms=0, schema=None, pooler="none",
        max_lag=5.0, interval=10.0,
    )  # fmt: skip
    try:
        assert not lone.replicas[0].up
        assert "not a standby" in lone.report()[0]["problem"]
    finally:
        await lone.close()


@pytest.mark.parametrize("order", ["covered_first", "covered_second"])
def test_a_replica_whose_check_covers_the_token_is_chosen_before_one_must_be_asked(order):
    covered, behind = Replica("postgresql://covered.test/db", None), Replica("postgresql://behind.test/db", None)  # type: ignore[arg-type]
    for replica, replayed in ((covered, 200), (behind, 100)):
        replica.up, replica.replayed, replica.lag = True, replayed, 0.0
    router = Replicas(object(), [covered, behind] if order == "covered_first" else [behind, covered])  # type: ignore[arg-type]
    marked = read_after(150)
    try:
        routes = [router.choose() for _ in range(2)]
    finally:
        reset_read_after(marked)
    assert routes == [(covered, 0), (covered, 0)], "0: nothing to ask"


def test_a_replica_behind_the_token_is_asked_only_when_up_and_in_time():
    lagging, down = Replica("postgresql://lagging.test/db", None), Replica("postgresql://down.test/db", None)  # type: ignore[arg-type]
    lagging.up, lagging.replayed, lagging.lag = True, 100, 60.0
    down.replayed, down.lag = 100, 0.0
    router = Replicas(object(), [lagging, down], max_lag=5.0)  # type: ignore[arg-type]
    marked = read_after(150)
    try:
        route = router.choose()
    finally:
        reset_read_after(marked)
    assert route is None, "the primary: no replica worth a question"


async def test_a_resource_with_a_query_cache_reads_from_the_primary(engine_spec):
    """A cache entry filled from a replica that lags could outlive the write's invalidation."""
    primary = object()
    router = Replicas(primary, [Replica("postgresql://replica.test/db", None)])  # type: ignore[arg-type]
    agents = engine_spec.resources["agents"]
    assert router.for_resource(dataclasses.replace(agents, cache={"ttl": 30})) is primary
    assert router.for_resource(agents) is router
