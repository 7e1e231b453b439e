"""GET /metrics: Prometheus text that parses, counters by route template, pool gauges, access control."""

import asyncio
import os
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from engine.db.pool import create_pool
from engine.features.events.lag import OutboxReader
from engine.http.keys import CONFIG, MANAGERS
from engine.kernel.metrics import StatCounters as Bridge

OPS_SPEC = os.path.join(os.path.dirname(__file__), "specs", "ops", "resources.yaml")


@pytest.fixture
def engine_spec_path():
    return OPS_SPEC


def samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} for every sample of a scrape."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_counted(scrape: dict, route: str, status: str = "200", method: str = "GET") -> float:
    key = ("engine_http_requests_total", frozenset({"method": method, "route": route, "status": status}.items()))
    return scrape.get(key, 0.0)


async def scrape(api) -> dict:
    result = await api.anonymous.get("/metrics")
    assert result.status == 200, result.text
    assert result.headers["Content-Type"].startswith("text/plain")
    return samples(result.text)


async def test_requests_are_counted_by_route_template_not_raw_path(api):
    created = await api.anonymous.post("/api/notes", json={"text": "hello"})
    before = requests_counted(await scrape(api), "/api/notes/{id}")
    await api.anonymous.get(created.headers["Location"])
    await api.anonymous.get(created.headers["Location"])
    after = await scrape(api)
    assert requests_counted(after, "/api/notes/{id}") == before + 2
    assert not any(created.json["data"]["id"] in str(labels) for _, labels in after)


async def test_the_latency_histogram_counts_each_request(api):
    key = (
        "engine_http_request_duration_seconds_count",
        frozenset({"method": "POST", "route": "/api/notes", "status": "201"}.items()),
    )
    before = (await scrape(api)).get(key, 0.0)
    await api.anonymous.post("/api/notes", json={"text": "timed"})
    assert (await scrape(api))[key] == before + 1


async def test_paths_no_route_serves_share_one_label(api):
    before = requests_counted(await scrape(api), "(unmatched)", "404")
    await api.anonymous.get("/no/such/page")
    await api.anonymous.get("/another/missing/page")
    assert requests_counted(await scrape(api), "(unmatched)", "404") == before + 2


async def test_a_failure_is_counted_with_the_status_the_client_got(api):
    before = requests_counted(await scrape(api), "/fails-when-sent", "500")
    assert (await api.anonymous.get("/fails-when-sent")).status == 500  # its handler answered 200
    after = await scrape(api)
    assert requests_counted(after, "/fails-when-sent", "500") == before + 1
    assert requests_counted(after, "/fails-when-sent", "200") == 0


async def test_pool_gauges_and_process_usage_are_reported(api):
    result = await scrape(api)
    names = {name for name, _ in result}
    assert result[("engine_db_pool_connections_max", frozenset())] == api.app[CONFIG].pool_max_size
    assert {"engine_db_pool_connections", "engine_db_pool_connections_in_use"} <= names
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"} <= names


async def test_reads_answered_together_are_counted(api):
    ids = [(await api.anonymous.post("/api/notes", json={"text": f"note {n}"})).json["data"]["id"] for n in range(3)]
    statements, reads = (
        ("engine_db_combined_statements_total", frozenset()),
        ("engine_db_combined_reads_total", frozenset()),
    )
    before = await scrape(api)

    await asyncio.gather(*(api.app[MANAGERS]["notes"].get(note, None) for note in ids))

    after = await scrape(api)
    assert after[statements] == before.get(statements, 0.0) + 1
    assert after[reads] == before.get(reads, 0.0) + 3


class TestAccess:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_METRICS_TOKEN": "scrape-secret"}

    async def test_a_scrape_without_the_token_is_401(self, api):
        result = await api.anonymous.get("/metrics")
        assert result.status == 401
        assert result.headers["WWW-Authenticate"].startswith("Bearer")

    async def test_a_scrape_with_a_wrong_token_is_401(self, api):
        result = await api.anonymous.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert result.status == 401

    async def test_a_scrape_with_the_token_is_200(self, api):
        result = await api.anonymous.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert result.status == 200


class TestNetworks:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_METRICS_ALLOW": "10.0.0.0/8, 192.168.0.0/16"}

    async def test_a_peer_outside_the_allowed_networks_is_403(self, api):
        result = await api.anonymous.get("/metrics")
        assert result.status == 403
        assert "ENGINE_METRICS_ALLOW" in result.json["detail"]


class TestOutboxLag:
    """The lag comes from the events plugin's table; the reader copes with it being absent."""

    @pytest.fixture
    async def pool(self, engine_database_url, engine_schema):
        # A schema of its own, not the app's, so this table never meets the events plugin's real one.
        conn = await asyncpg.connect(engine_database_url)
        schema = engine_schema + "_outbox"
        await conn.execute(f'CREATE SCHEMA "{schema}"')  # generated name, never input
        pool = await create_pool(
            engine_database_url, min_size=1, max_size=2, statement_timeout_ms=10_000, schema=schema
        )
        try:
            yield pool
        finally:
            await pool.close()
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()

    async def test_no_outbox_table_means_no_lag_reading(self, pool):
        assert await OutboxReader().read(pool) is None

    async def test_the_lag_is_the_age_of_the_oldest_event_after_the_delivery_position(self, pool):
        """The built-in events plugin's layout: an id-ordered outbox and a delivery cursor."""
        await pool.execute("CREATE TABLE _engine_events (id bigint PRIMARY KEY, at timestamptz NOT NULL)")
        await pool.execute("CREATE TABLE _engine_event_cursors (name text PRIMARY KEY, position bigint NOT NULL)")
        await pool.execute(
            "INSERT INTO _engine_events VALUES (1, now() - interval '90 seconds'), "
            "(2, now() - interval '60 seconds'), (3, now())"
        )
        await pool.execute("INSERT INTO _engine_event_cursors VALUES ('handlers', 1)")
        lag = await OutboxReader().read(pool)
        assert lag.pending == 2
        assert 60 <= lag.seconds < 90

    async def test_the_lag_counts_events_after_a_position_in_transaction_order(self, pool):
        """The built-in layout since events carry `tx`: the position is (tx, id), not an id alone."""
        await pool.execute("CREATE TABLE _engine_events (id bigint PRIMARY KEY, tx bigint, at timestamptz NOT NULL)")
        await pool.execute(
            "CREATE TABLE _engine_event_cursors (name text PRIMARY KEY, position bigint NOT NULL, tx bigint)"
        )
        await pool.execute(  # id 3 committed first (smaller tx): delivered although ids 1 and 2 are not
            "INSERT INTO _engine_events VALUES (3, 10, now() - interval '90 seconds'), "
            "(1, 11, now() - interval '60 seconds'), (2, 12, now())"
        )
        await pool.execute("INSERT INTO _engine_event_cursors VALUES ('handlers', 3, 10)")
        lag = await OutboxReader().read(pool)
        assert lag.pending == 2
        assert 60 <= lag.seconds < 90

    async def test_the_lag_is_the_age_of_the_oldest_undispatched_event(self, pool):
        """An outbox that marks delivered rows instead of keeping a position."""
        await pool.execute(
            "CREATE TABLE _engine_events (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, "
            "dispatched_at timestamptz)"
        )
        await pool.execute(
            "INSERT INTO _engine_events (created_at, dispatched_at) VALUES "
            "(now() - interval '90 seconds', now()), (now() - interval '60 seconds', NULL), (now(), NULL)"
        )
        lag = await OutboxReader().read(pool)
        assert lag.pending == 2
        assert 60 <= lag.seconds < 90


@dataclass
class _Stats:
    hits: int = 0


def test_plugin_counters_are_published_as_increments():
    """Per-app integer stats (the cache's, the rate limiter's) become Prometheus counters."""
    registry = CollectorRegistry()
    counter = Counter("test_ops_bridge_hits", "hits", registry=registry)
    key = web.AppKey("test_ops_stats", _Stats)
    app = web.Application()
    app[key] = _Stats(hits=3)
    bridge = Bridge(key, {"hits": counter})
    bridge.publish(app)
    app[key].hits = 5
    bridge.publish(app)
    bridge.publish(app)
    assert registry.get_sample_value("test_ops_bridge_hits_total") == 5
