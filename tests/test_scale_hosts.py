"""Two engine hosts, each in a network namespace of its own, sharing one PostgreSQL and one Redis.

The topology of docs/deployment.md (a load balancer in front of several hosts), with real network
stacks: host A and host B reach PostgreSQL and Redis over their veth links, and the test reaches
each host at its own address. A write on A reaches B's event stream; rate limits and the query
cache are counted and filled once for both; killing A under write load loses no acknowledged write.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import uuid

import aiohttp
import asyncpg
import pytest
import yarl
from load.hosts import PORT, Host, Network, namespaces_work
from load.ledger import Ledger
from load.pg import ThrowawayPostgres
from load.redis_server import ThrowawayRedis
from stand_in_oidc_provider import StandInProvider, google_env, visit_provider

from engine.features.events import sse
from engine.spec import load_spec
from engine.testing import TEST_FIELD_KEYS, TEST_JWT_SECRET, TEST_SESSION_SECRET, Api, create_tables

pytestmark = pytest.mark.skipif(bool(namespaces_work()), reason=namespaces_work() or "")

NOTE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["ref"],
    "properties": {
        "id": {"type": "string", "format": "uuid", "readOnly": True},
        "owner_id": {"type": "string"},
        "ref": {"type": "string"},
    },
}
USER = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "email"],
    "properties": {
        "id": {"type": "string"},
        "email": {"type": "string"},
        "name": {"type": "string"},
        "google_id": {"type": "string"},
    },
}
SPEC = """\
version: 1
resources:
  users:
    schema: schemas/user.json
    owner: id
    unique: [[email], [google_id]]
    permissions: {list: [user], read: [user], create: [admin], update: [user], delete: [admin]}
  notes:
    schema: schemas/note.json
    owner: owner_id
    unique: [[ref]]
    cache: {ttl: 60}
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
  pings:
    schema: schemas/note.json
    owner: owner_id
    unique: [[ref]]
    rate_limit: 4/minute
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
"""
WAIT = 20.0  # seconds: a generous bound for what must arrive, never a timing assertion
TIMEOUT = aiohttp.ClientTimeout(total=30)


@pytest.fixture(scope="module")
def network():
    net = Network()
    try:
        yield net, [net.add_host(), net.add_host()]
    finally:
        net.close()


@pytest.fixture(scope="module")
def shared_services(network):
    """One PostgreSQL and one Redis, listening on loopback and on the root end of every host's link."""
    net, _ = network
    pg, redis = ThrowawayPostgres(), ThrowawayRedis()
    pg.listen_addresses = ",".join(["127.0.0.1", *net.outer_addresses])
    pg.trust("10.213.0.0/16")
    redis.bind = ["127.0.0.1", *net.outer_addresses]
    pg.start()
    redis.start()
    try:
        yield pg, redis
    finally:
        redis.close()
        pg.close()


@pytest.fixture(scope="module")
def hosts(network, shared_services, tmp_path_factory):
    """Host A and host B on one database (its tables made here, as `migrate apply` would)."""
    _, links = network
    pg, _ = shared_services
    directory = tmp_path_factory.mktemp("hosts")
    (directory / "schemas").mkdir()
    (directory / "schemas" / "note.json").write_text(json.dumps(NOTE))
    (directory / "schemas" / "user.json").write_text(json.dumps(USER))
    (directory / "resources.yaml").write_text(SPEC)
    asyncio.run(create_tables(pg.url, "public", load_spec(str(directory / "resources.yaml"))))
    with running_hosts(links, shared_services, str(directory / "resources.yaml")) as started:
        yield started


def host_env(outer: str, shared_services) -> dict[str, str]:
    """A host's settings: the shared PostgreSQL and Redis, at the root end of its own link."""
    pg, redis = shared_services
    return {
        "DATABASE_URL": f"postgresql://postgres@{outer}:{pg.port}/postgres",
        "REDIS_URL": f"redis://{outer}:{redis.port}/0",
        "ENGINE_JWT_SECRET": TEST_JWT_SECRET,
        "ENGINE_SESSION_SECRET": TEST_SESSION_SECRET,
        "ENGINE_FIELD_KEYS": TEST_FIELD_KEYS,
        "ENGINE_METRICS_ALLOW": "10.213.0.0/16",
        "ENGINE_RATE_LIMIT": "100000/minute",  # the load test's writers; `pings` keeps its own 4/minute
        "ENGINE_LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def running_hosts(links, shared_services, spec_path: str, port: int = PORT, **extra: str):
    started = []
    try:
        for namespace, inner, outer in links:
            host = Host(namespace, inner, spec_path, {**host_env(outer, shared_services), **extra}, port=port)
            started.append(host)
            host.wait_ready()
        yield started
    finally:
        for host in started:
            host.stop()


class Client:
    """A user's requests to one host."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str):
        self.session, self.base = session, base
        self.headers = {"Authorization": f"Bearer {token}"}

    async def request(self, method: str, path: str, body: object = None) -> tuple[int, object, object]:
        async with self.session.request(
            method, self.base + path, json=body, headers=self.headers, timeout=TIMEOUT
        ) as response:
            text = await response.read()
            return response.status, (json.loads(text) if text else None), response.headers


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def token(user: str) -> str:
    return Api(None, None, "", "", {"ENGINE_JWT_SECRET": TEST_JWT_SECRET}).token(user)


def clients(session, hosts, user: str) -> tuple[Client, Client]:
    return Client(session, hosts[0].base, token(user)), Client(session, hosts[1].base, token(user))


async def _metric(client: Client, name: str) -> float:
    async with client.session.get(client.base + "/metrics", timeout=TIMEOUT) as response:
        text = await response.text()
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_the_hosts_live_on_separate_network_stacks(hosts):
    assert hosts[0].address != hosts[1].address
    assert all(host.namespace.startswith("re-") for host in hosts)


async def test_a_write_on_host_a_reaches_host_b_event_stream(session, hosts):
    on_a, on_b = clients(session, hosts, f"events-{uuid.uuid4().hex[:8]}")
    async with session.get(hosts[1].base + "/api/events/stream", headers=on_b.headers, timeout=TIMEOUT) as stream:
        assert stream.status == 200
        messages = sse.messages(stream.content)
        async with asyncio.timeout(WAIT):
            first = await anext(messages)
        assert first.comment == "connected"
        status, body, _ = await on_a.request("POST", "/api/notes", {"ref": f"ev-{uuid.uuid4()}"})
        assert status == 201, f"{body}\n{hosts[0].log_text()[-3000:]}"
        async with asyncio.timeout(WAIT):
            event = await anext(messages)
            while event.comment is not None:
                event = await anext(messages)
    assert event.event == "notes.created"
    assert body["data"]["id"] in event.data


async def test_the_rate_limit_is_counted_once_across_hosts(session, hosts):
    on_a, on_b = clients(session, hosts, f"limited-{uuid.uuid4().hex[:8]}")
    statuses = [(await (on_a if i % 2 == 0 else on_b).request("GET", "/api/pings"))[0] for i in range(5)]
    assert statuses == [200, 200, 200, 200, 429], "4/minute: the fifth request, on either host, is refused"


async def test_the_query_cache_filled_on_host_a_answers_on_host_b(session, hosts):
    on_a, on_b = clients(session, hosts, f"cached-{uuid.uuid4().hex[:8]}")
    assert (await on_a.request("POST", "/api/notes", {"ref": f"c-{uuid.uuid4()}"}))[0] == 201
    listed_on_a = await on_a.request("GET", "/api/notes")
    hits_before = await _metric(on_b, "engine_cache_hits_total")
    listed_on_b = await on_b.request("GET", "/api/notes")
    assert listed_on_b[1] == listed_on_a[1]
    assert await _metric(on_b, "engine_cache_hits_total") > hits_before


async def test_a_write_on_host_b_is_seen_by_the_next_read_on_host_a_through_the_shared_cache(session, hosts):
    on_a, on_b = clients(session, hosts, f"fresh-{uuid.uuid4().hex[:8]}")
    assert (await on_a.request("GET", "/api/notes"))[1]["data"] == []  # cached empty on A
    assert (await on_b.request("POST", "/api/notes", {"ref": f"f-{uuid.uuid4()}"}))[0] == 201
    assert len((await on_a.request("GET", "/api/notes"))[1]["data"]) == 1


async def test_a_session_made_on_host_a_works_on_host_b(network, shared_services, hosts, aiohttp_server):
    """Signed in with Google on host A (a stand-in provider on A's link); the cookie then works on B."""
    _, links = network
    (_, inner_a, outer_a), _ = links
    provider = StandInProvider()
    server = await aiohttp_server(provider.app(), host=outer_a)
    provider.issuer = str(server.make_url("")).rstrip("/")
    port = PORT + 1  # beside the module's hosts, in the same namespaces
    google = google_env(provider, ENGINE_GOOGLE_REDIRECT_URI=f"http://{inner_a}:{port}/auth/google/callback")
    spec_path = hosts[0].spec_path
    with running_hosts(links, shared_services, spec_path, port, **google) as (host_a, host_b):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(host_a.base + "/auth/google/login", allow_redirects=False) as login:
                assert login.status == 302, await login.text()
                provider_url = login.headers["Location"]
            callback_url = await visit_provider(provider_url)
            async with browser.get(callback_url, allow_redirects=False) as callback:
                assert callback.status == 302, await callback.text()
            cookie = browser.cookie_jar.filter_cookies(yarl.URL(host_a.base))["engine_session"]
            me = {}
            for host in (host_a, host_b):
                headers = {"Cookie": f"engine_session={cookie.value}"}
                async with aiohttp.ClientSession() as fresh, fresh.get(host.base + "/api/me", headers=headers) as r:
                    assert r.status == 200, await r.text()
                    me[host.address] = (await r.json())["data"]["id"]
    assert me[host_a.address] == me[host_b.address]


async def test_killing_host_a_under_write_load_loses_no_acknowledged_write(session, hosts, shared_services):
    """Writers spread over both hosts, as a load balancer would; A dies (SIGKILL) mid-load."""
    user = f"load-{uuid.uuid4().hex[:8]}"
    targets = clients(session, hosts, user)
    ledger, stop = Ledger(), asyncio.Event()
    refs = (f"{user}-{i}" for i in itertools.count())

    async def writer(client: Client) -> None:
        while not stop.is_set():
            ref = next(refs)
            try:
                status, body, headers = await client.request("POST", "/api/notes", {"ref": ref})
            except (aiohttp.ClientError, TimeoutError) as error:
                status, body, headers = None, repr(error), None
            ledger.record(ref, status, body, headers, 0.0)
            if status is None:
                await asyncio.sleep(0.05)  # a dead host refuses at once: do not spin

    writers = [asyncio.create_task(writer(targets[i % 2])) for i in range(6)]
    await asyncio.sleep(1.5)
    await asyncio.to_thread(hosts[0].kill)
    acked_at_kill = len(ledger.acked)
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*writers)
    pg, _ = shared_services
    conn = await asyncpg.connect(pg.url)
    try:
        present = [r["ref"] for r in await conn.fetch("SELECT ref FROM notes WHERE owner_id = $1", user)]
    finally:
        await conn.close()
    figures = ledger.reconcile(present)
    print(f"figures: {figures} statuses: {dict(ledger.statuses)}")
    assert len(ledger.acked) > acked_at_kill, "host B stopped serving when A died"
    assert (figures["lost"], figures["duplicates"], figures["phantoms"]) == (0, 0, 0), figures
    assert set(ledger.statuses) <= {201, 503, "dropped"}, ledger.statuses
