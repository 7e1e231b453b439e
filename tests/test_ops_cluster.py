"""`resource-engine serve --workers 2`: the real CLI as a gunicorn cluster against the test database."""

import asyncio
import os
import signal

import aiohttp
import asyncpg
import orjson
import pytest
from ops_support import Cluster, wait_for
from prometheus_client.parser import text_string_to_metric_families

from engine.features.jwt_auth.tokens import JwtSettings, issue
from engine.testing import TEST_JWT_SECRET, create_tables

OPS_SPEC = os.path.join(os.path.dirname(__file__), "specs", "ops", "resources.yaml")


@pytest.fixture
def engine_spec_path():
    return OPS_SPEC


@pytest.fixture
def cluster_args() -> tuple[str, ...]:
    """Extra `serve` options; a test class overrides this fixture to change them."""
    return ()


@pytest.fixture
def cluster_env() -> dict[str, str]:
    """Extra environment for the cluster; a test class overrides it."""
    return {}


@pytest.fixture
async def cluster(engine_database_url, engine_schema, engine_spec, tmp_path, cluster_args, cluster_env):
    await create_tables(engine_database_url, engine_schema, engine_spec)
    env = {
        "DATABASE_URL": engine_database_url,
        "ENGINE_DB_SCHEMA": engine_schema,
        "ENGINE_JWT_SECRET": TEST_JWT_SECRET,
        "ENGINE_ENV": "development",
        "ENGINE_LOG_FORMAT": "json",
        "ENGINE_AUTO_MIGRATE": "false",
        **cluster_env,
    }
    log_file = ("--log-file", str(tmp_path / "engine.log"))
    running = Cluster(OPS_SPEC, env, workers=2, extra_args=(*log_file, *cluster_args))
    running.log_file = tmp_path / "engine.log"
    try:
        await asyncio.to_thread(running.wait_ready)
        yield running
    finally:
        await asyncio.to_thread(running.stop)


async def until(condition, what: str) -> None:
    await asyncio.to_thread(wait_for, condition, what)


def log_lines(cluster) -> list[dict]:
    return [orjson.loads(line) for line in cluster.log_file.read_text().splitlines()]


async def test_a_killed_worker_is_replaced_while_a_client_keeps_getting_200s(cluster):
    statuses, failures, stop = [], [], asyncio.Event()

    async def client() -> None:
        # A new connection per request, as a load balancer's health-checked pool would spread them.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            while not stop.is_set():
                try:
                    async with session.get(cluster.base + "/api/notes") as response:
                        await response.read()
                        statuses.append(response.status)
                except aiohttp.ClientError as error:
                    failures.append(error)
                await asyncio.sleep(0.01)

    task = asyncio.create_task(client())
    await until(lambda: len(statuses) >= 10, "the client's first responses")
    victim = cluster.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    await until(lambda: victim not in (pids := cluster.worker_pids()) and len(pids) == 2, "a replacement worker")
    await asyncio.to_thread(cluster.wait_ready)
    answered = len(statuses)
    await until(lambda: len(statuses) >= answered + 20, "responses after the replacement")
    stop.set()
    await task
    assert set(statuses) == {200}
    assert len(failures) <= 1, failures  # at most the one request the killed worker held at that instant


async def test_sigterm_lets_an_in_flight_slow_request_finish(cluster, engine_database_url):
    async with aiohttp.ClientSession() as session:
        slow = asyncio.create_task(session.get(cluster.base + "/slow?seconds=3"))
        await _until_sleeping_in_postgres(engine_database_url)
        cluster.signal(signal.SIGTERM)
        response = await slow
        assert response.status == 200
        assert await response.json() == {"slept": 3.0}
    assert await asyncio.to_thread(cluster.process.wait, 60) == 0


async def test_sigterm_ends_event_streams_with_a_reconnect_hint(cluster):
    settings = JwtSettings.from_env({"ENGINE_JWT_SECRET": TEST_JWT_SECRET}, development=True, secret_file="")
    headers = {"Authorization": f"Bearer {issue(settings, 'alice', [])}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(cluster.base + "/api/events/stream", headers=headers) as response:
            assert response.status == 200
            opening = await response.content.readline()
            cluster.signal(signal.SIGTERM)
            rest = await response.content.read()  # returns when the worker ends the stream
    assert opening.startswith(b"retry: ")
    assert b"shutting down" in rest
    assert await asyncio.to_thread(cluster.process.wait, 60) == 0


async def _until_sleeping_in_postgres(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for _ in range(600):
            sleeping = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'resource-engine' "
                "AND state = 'active' AND query LIKE 'SELECT pg_sleep%'"
            )
            if sleeping:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the slow request never reached PostgreSQL")
    finally:
        await conn.close()


def scrape(cluster) -> dict:
    from ops_support import get

    status, _, body = get(cluster.base + "/metrics")
    assert status == 200
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


async def test_metrics_add_up_the_requests_served_by_every_worker(cluster):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(30):
            async with session.get(cluster.base + "/api/notes") as response:
                assert response.status == 200
    requests = scrape(cluster)["engine_http_requests"]
    counted = {(s.labels["route"], s.labels["status"]): s.value for s in requests.samples if s.name.endswith("_total")}
    assert counted[("/api/notes", "200")] == 30


async def test_metrics_show_the_memory_of_the_master_and_each_worker(cluster):
    memory = scrape(cluster)["process_resident_memory_bytes"]
    pids = {int(sample.labels["pid"]) for sample in memory.samples}
    assert pids == {cluster.pid, *cluster.worker_pids()}


async def test_log_lines_are_json_and_carry_the_request_id(cluster):
    async with aiohttp.ClientSession() as session:
        async with session.get(cluster.base + "/api/notes", headers={"X-Request-ID": "cluster-req-1"}) as response:
            assert response.headers["X-Request-ID"] == "cluster-req-1"

    def logged() -> list[dict]:  # every line parses as JSON, gunicorn's own included
        return [line for line in log_lines(cluster) if line["request_id"] == "cluster-req-1"]

    await until(logged, "the request's access line")  # written at the end of the worker's loop turn
    (line,) = logged()
    assert (line["logger"], line["route"], line["status"]) == ("engine.access", "/api/notes", 200)
    assert line["pid"] in cluster.worker_pids()


async def test_sighup_replaces_the_workers_and_keeps_serving(cluster):
    before = set(cluster.worker_pids())
    cluster.signal(signal.SIGHUP)
    await until(lambda: len(now := set(cluster.worker_pids())) == 2 and not now & before, "two new workers")
    await asyncio.to_thread(cluster.wait_ready)


async def test_the_metrics_directory_is_removed_when_the_cluster_stops(cluster):
    (started,) = [line for line in log_lines(cluster) if line.get("event") == "cluster_start"]
    assert await asyncio.to_thread(os.path.isdir, started["metrics_dir"])
    assert await asyncio.to_thread(cluster.stop) == 0
    assert not await asyncio.to_thread(os.path.exists, started["metrics_dir"])


class TestMaxRequests:
    @pytest.fixture
    def cluster_args(self):
        return ("--max-requests", "10", "--max-requests-jitter", "0")

    @pytest.fixture
    def cluster_env(self):
        """Eight clients from one address can pass 1000 requests a minute before six recycles are over
        (a draining worker finishes its keep-alive connections first): the rate limit is not under test."""
        return {"ENGINE_RATE_LIMIT": "off"}

    async def test_workers_are_recycled_after_max_requests_without_failing_a_request(self, cluster):
        first = set(cluster.worker_pids())
        statuses = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            while first & set(cluster.worker_pids()):  # until both original workers were replaced
                async with session.get(cluster.base + "/api/notes") as response:
                    statuses.append(response.status)
                assert len(statuses) < 2_000, "the workers were never recycled"
        assert set(statuses) == {200}

    async def test_a_recycle_resets_no_keep_alive_connection(self, cluster):
        """Keep-alive clients POSTing (a request no client may retry on its own) across six recycles."""
        seen, statuses, failures = set(cluster.worker_pids()), [], []

        async def watch() -> None:
            while len(seen) < 8 and len(statuses) < 20_000:
                seen.update(await asyncio.to_thread(cluster.worker_pids))
                await asyncio.sleep(0.05)

        async def client(session: aiohttp.ClientSession) -> None:
            while not watcher.done():
                try:
                    async with session.post(cluster.base + "/api/notes", json={"text": "recycled"}) as response:
                        statuses.append(response.status)
                except aiohttp.ClientError as error:  # a reset: what a recycle must never cause
                    failures.append(repr(error))

        watcher = asyncio.create_task(watch())
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:
            await asyncio.gather(watcher, *(client(session) for _ in range(8)))
        assert len(seen) >= 8, f"only {len(seen) - 2} recycles"
        assert failures == [] and set(statuses) == {201}, (failures, len(statuses))
