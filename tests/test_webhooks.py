"""Webhooks (engine/features/webhooks): signed deliveries to a real local receiver that fails, times out
and recovers; retries, dead letters, disabling, replays, outbound limits, and a worker killed mid-delivery."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from events_support import wait_until
from process_support import engine_env as process_env
from process_support import run_engine, serving
from standardwebhooks import Webhook

from engine.db.pool import connect
from engine.features.secrets.keys import Undecryptable, parse_keys
from engine.features.webhooks.plugin import SETTINGS, TASK
from engine.features.webhooks.secrets import rotate_secrets, unseal
from engine.features.webhooks.worker import Worker
from engine.http.keys import POOL
from engine.testing import PRODUCTION_TOKEN_CLAIMS, TEST_FIELD_KEYS, TEST_JWT_SECRET

ROOT = Path(__file__).resolve().parent.parent

FAST = {
    "ENGINE_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
    "ENGINE_WEBHOOK_POLL_INTERVAL": "0.05",
    "ENGINE_WEBHOOK_RETRY_BACKOFF": "0.05",
    "ENGINE_WEBHOOK_TIMEOUT": "1",
    "ENGINE_RATE_LIMIT": "100000/second",
}


class Receiver:
    """A webhook receiver on loopback: answers each request as planned (a status, "hold" until
    released, "endless": 200 and a body that never ends, "trickle": 200 and a byte now and then,
    or a path to redirect to), 200 once the plan is spent; records every request, and counts the
    answers the engine hung up on before their body ended."""

    def __init__(self) -> None:
        self.plan: list[Any] = []
        self.requests: list[tuple[dict[str, str], bytes, str]] = []
        self.release = asyncio.Event()
        self.hung_up = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((dict(request.headers), await request.read(), request.path))
        behaviour = self.plan.pop(0) if self.plan else 200
        if behaviour == "hold":
            await self.release.wait()
            return web.Response(status=200)
        if behaviour in ("endless", "trickle"):
            return await self.stream(request, behaviour)
        if isinstance(behaviour, str):
            raise web.HTTPFound(behaviour)
        return web.Response(status=behaviour)

    async def stream(self, request: web.Request, behaviour: str) -> web.StreamResponse:
        answer = web.StreamResponse(status=200)
        await answer.prepare(request)
        chunk, pause = (b"x" * 65536, 0) if behaviour == "endless" else (b"x", 0.1)
        try:
            while not self.release.is_set():
                await answer.write(chunk)
                await asyncio.sleep(pause)
        except (ConnectionError, asyncio.CancelledError):  # the engine hung up: a failed write or a cancel
            self.hung_up += 1
            raise
        return answer

    def types(self) -> list[str]:
        return [orjson.loads(body)["type"] for _, body, path in self.requests if path == "/hook"]


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, **FAST}


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Any:
    got = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", got.handle)
    server = await aiohttp_server(app)
    got.url = str(server.make_url("/hook"))
    yield got
    got.release.set()


async def register(admin: Any, receiver: Any, **body: Any) -> dict[str, Any]:
    result = await admin.post("/api/webhooks", json={"url": receiver.url, "resources": ["agents"], **body})
    assert result.status == 201, result.text
    return result.json["data"]


async def deliveries(admin: Any, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    result = await admin.get(f"/api/webhooks/{endpoint['id']}/deliveries")
    assert result.status == 200, result.text
    return result.json["data"]


async def settled(admin: Any, endpoint: dict[str, Any], status: str, count: int = 1) -> list[dict[str, Any]]:
    """Wait until `count` deliveries of the endpoint have `status`; returns them all."""

    async def reached() -> bool:
        return sum(d["status"] == status for d in await deliveries(admin, endpoint)) >= count

    await wait_until(reached, f"{count} {status} deliveries")
    return await deliveries(admin, endpoint)


async def test_a_matching_event_arrives_signed_with_standard_webhooks_headers(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    endpoint = await register(admin, receiver)
    assert endpoint["secret"].startswith("whsec_")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]
    await settled(admin, endpoint, "succeeded")
    ((headers, body, _),) = receiver.requests
    payload = Webhook(endpoint["secret"]).verify(body, headers)
    assert payload["type"] == "agents.created"
    assert payload["data"]["record_id"] == agent["id"]
    assert "system_prompt" not in payload["data"]["data"]  # the event's exclusions hold


async def test_the_secret_is_shown_only_when_the_endpoint_is_created(api, receiver):
    admin = await api.as_admin()
    endpoint = await register(admin, receiver)
    listed = (await admin.get("/api/webhooks")).json["data"]
    one = (await admin.get(f"/api/webhooks/{endpoint['id']}")).json["data"]
    assert endpoint["secret"] not in str(listed) + str(one)


async def stored_secret(api: Any, endpoint: dict[str, Any]) -> str:
    [row] = await api.sql("select secret from _engine_webhooks where id = $1", uuid_of(endpoint))
    return row["secret"]


def uuid_of(endpoint: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(endpoint["id"])


async def test_the_signing_secret_is_stored_encrypted_with_the_field_keys(api, receiver):
    admin = await api.as_admin()
    endpoint = await register(admin, receiver)
    stored = await stored_secret(api, endpoint)
    assert stored.startswith("enc1:") and endpoint["secret"] not in stored
    assert endpoint["secret"].removeprefix("whsec_") not in stored
    assert unseal(stored, api.app[SETTINGS].keys) == endpoint["secret"]


async def test_a_secret_stored_in_plain_text_before_encryption_still_signs(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    endpoint = await register(admin, receiver)
    await api.sql("update _engine_webhooks set secret = $1", endpoint["secret"])  # a row from before
    await alice.post("/api/agents", json={"name": "Helper"})
    await settled(admin, endpoint, "succeeded")
    ((headers, body, _),) = receiver.requests
    assert Webhook(endpoint["secret"]).verify(body, headers)["type"] == "agents.created"


async def test_a_secret_no_key_opens_is_a_failed_attempt_never_sent_unsigned(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    endpoint = await register(admin, receiver)
    other = Fernet(Fernet.generate_key()).encrypt(endpoint["secret"].encode()).decode()
    await api.sql("update _engine_webhooks set secret = $1", "enc1:" + other)
    await alice.post("/api/agents", json={"name": "Helper"})

    async def tried() -> bool:
        return any(d["attempts"] >= 1 and d["last_error"] for d in await deliveries(admin, endpoint))

    await wait_until(tried, "a failed attempt")
    (delivery,) = await deliveries(admin, endpoint)
    assert delivery["status"] == "pending" and "cannot be decrypted" in delivery["last_error"]
    assert receiver.requests == []


OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


class TestKeyRotation:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_FIELD_KEYS": OLD_KEY}

    async def test_rotation_re_encrypts_signing_secrets_and_encrypts_plain_ones(self, api, receiver):
        admin = await api.as_admin()
        sealed, plain = await register(admin, receiver), await register(admin, receiver)
        await api.sql("update _engine_webhooks set secret = $1 where id = $2", plain["secret"], uuid_of(plain))
        conn = await connect(api.database_url, schema=api.schema)
        try:
            done = await rotate_secrets(conn, parse_keys(f"{NEW_KEY},{OLD_KEY}"))
        finally:
            await conn.close()
        assert (done.rows, done.encrypted, done.failed) == (2, 1, 0)
        for endpoint in (sealed, plain):
            stored = await stored_secret(api, endpoint)
            assert unseal(stored, parse_keys(NEW_KEY)) == endpoint["secret"]
            with pytest.raises(Undecryptable):
                unseal(stored, parse_keys(OLD_KEY))

    async def test_the_rotate_command_re_encrypts_signing_secrets(
        self, api, receiver, engine_database_url, engine_schema
    ):
        admin = await api.as_admin()
        endpoint = await register(admin, receiver)
        env = process_env(engine_database_url, engine_schema, ENGINE_FIELD_KEYS=f"{NEW_KEY},{OLD_KEY}")

        done = await run_engine("keys", "rotate", cwd=ROOT, env=env)

        assert done.code == 0, done.output
        assert "webhook signing secrets: 1 value(s) re-encrypted" in done.output
        assert endpoint["secret"] not in done.output
        assert unseal(await stored_secret(api, endpoint), parse_keys(NEW_KEY)) == endpoint["secret"]


class TestProductionWithoutKeys:
    """A project without secret fields may run in production without ENGINE_FIELD_KEYS; then no
    signing secret can be stored, so registering an endpoint says what to set."""

    @pytest.fixture
    def engine_spec_path(self, write_spec) -> str:
        schema = {
            "type": "object",
            "properties": {"id": {"type": "string", "format": "uuid"}, "title": {"type": "string"}},
        }
        spec = "version: 1\nresources:\n  notes:\n    schema: schemas/note.json\n    permissions: {create: [user]}\n"
        return str(write_spec(spec, {"schemas/note.json": schema}))

    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in engine_env.items() if k != "ENGINE_FIELD_KEYS"}
        return {**env, **PRODUCTION_TOKEN_CLAIMS, "ENGINE_ENV": "production"}

    async def test_registering_an_endpoint_is_501_naming_the_setting(self, api, receiver, expect_problem):
        admin = api.with_token(api.token("admin", ["admin"]))
        result = await admin.post("/api/webhooks", json={"url": receiver.url, "resources": ["notes"]})
        assert "set ENGINE_FIELD_KEYS" in expect_problem(result, 501)["detail"]
        assert await api.sql("select 1 from _engine_webhooks") == []


async def test_an_endpoint_hears_only_of_changes_made_after_it_was_registered(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    await alice.post("/api/agents", json={"name": "Before"})
    endpoint = await register(admin, receiver)
    await alice.post("/api/agents", json={"name": "After"})
    await settled(admin, endpoint, "succeeded")
    assert [orjson.loads(body)["data"]["data"]["name"] for _, body, _ in receiver.requests] == ["After"]


async def test_an_endpoint_registered_disabled_stays_disabled(api, receiver):
    admin = await api.as_admin()
    endpoint = await register(admin, receiver, enabled=False)
    assert (await admin.get(f"/api/webhooks/{endpoint['id']}")).json["data"]["enabled"] is False


async def test_only_the_registered_actions_are_delivered(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    endpoint = await register(admin, receiver, actions=["deleted"])
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]
    await alice.delete(f"/api/agents/{agent['id']}")
    await settled(admin, endpoint, "succeeded")
    assert receiver.types() == ["agents.deleted"]


async def test_a_filter_limits_deliveries_to_matching_data(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    endpoint = await register(admin, receiver, filter={"name": ["Wanted"]})
    await alice.post("/api/agents", json={"name": "Other"})
    await alice.post("/api/agents", json={"name": "Wanted"})
    await settled(admin, endpoint, "succeeded")
    ((_, body, _),) = receiver.requests
    assert orjson.loads(body)["data"]["data"]["name"] == "Wanted"


async def test_a_failing_receiver_gets_retries_until_it_recovers(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    receiver.plan = [500, 503]
    endpoint = await register(admin, receiver)
    await alice.post("/api/agents", json={"name": "Helper"})
    (delivery,) = await settled(admin, endpoint, "succeeded")
    assert delivery["attempts"] == 3 and delivery["response_status"] == 200
    assert len({headers["webhook-id"] for headers, _, _ in receiver.requests}) == 1  # one message, three tries


async def test_a_receiver_that_times_out_gets_a_retry(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    receiver.plan = ["hold"]
    endpoint = await register(admin, receiver)
    await alice.post("/api/agents", json={"name": "Helper"})
    (delivery,) = await settled(admin, endpoint, "succeeded")
    assert delivery["attempts"] == 2


async def test_an_endless_answer_is_read_only_up_to_the_cap(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    receiver.plan = ["endless"]
    endpoint = await register(admin, receiver)
    await alice.post("/api/agents", json={"name": "Helper"})
    (delivery,) = await settled(admin, endpoint, "succeeded")  # reading it all would never end
    assert (delivery["attempts"], delivery["response_status"]) == (1, 200)

    async def hung_up() -> bool:
        return receiver.hung_up == 1

    await wait_until(hung_up, "the engine to drop the connection")


async def test_an_answer_trickling_past_the_timeout_is_a_failed_attempt(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    receiver.plan = ["trickle"] * 100
    endpoint = await register(admin, receiver)
    await alice.post("/api/agents", json={"name": "Helper"})

    async def failed_once() -> bool:
        return any(d["last_error"] for d in await deliveries(admin, endpoint))

    await wait_until(failed_once, "a failed attempt")
    (delivery,) = await deliveries(admin, endpoint)
    assert (delivery["status"], delivery["response_status"]) == ("pending", 200)
    assert "did not end within 1 s" in delivery["last_error"]


async def test_a_redirect_is_not_followed(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    receiver.plan = ["/elsewhere"] * 100
    endpoint = await register(admin, receiver)
    await alice.post("/api/agents", json={"name": "Helper"})

    async def tried_twice() -> bool:
        return any(d["attempts"] >= 2 for d in await deliveries(admin, endpoint))

    await wait_until(tried_twice, "a second attempt")
    (delivery,) = await deliveries(admin, endpoint)
    assert delivery["status"] == "pending" and delivery["response_status"] == 302
    assert "redirect" in delivery["last_error"]
    assert {path for _, _, path in receiver.requests} == {"/hook"}


async def test_a_private_address_is_refused_unless_allowed(api, receiver, expect_problem):
    admin = await api.as_admin()
    result = await admin.post("/api/webhooks", json={"url": "http://10.0.0.1/hook", "resources": ["agents"]})
    assert "private" in expect_problem(result, 422)["errors"][0]["message"]


async def test_non_admins_cannot_manage_webhooks(api, receiver, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.post("/api/webhooks", json={"url": receiver.url, "resources": ["agents"]}), 403)
    expect_problem(await alice.get("/api/webhooks"), 403)
    expect_problem(await api.anonymous.get("/api/webhooks"), 401)


async def test_an_admins_api_key_needs_the_webhooks_scope(api, receiver, expect_problem):
    admin = await api.as_admin()
    key = (await admin.post("/api/me/api-keys", json={"name": "k", "scopes": ["webhooks:read"]})).json["data"]["key"]
    with_key = api.anonymous.__class__(api.client, {"X-API-Key": key})
    assert (await with_key.get("/api/webhooks")).status == 200
    expect_problem(await with_key.post("/api/webhooks", json={"url": receiver.url, "resources": ["agents"]}), 403)


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/x", "resources": ["agents"]},
        {"url": "https://example.com/x", "resources": ["nonsense"]},
        {"url": "https://example.com/x", "resources": ["agents"], "actions": ["exploded"]},
        {"url": "https://example.com/x"},
        {"url": "https://example.com/x", "resources": ["agents"], "extra": 1},
    ],
)
async def test_a_bad_endpoint_is_422(api, expect_problem, body):
    admin = await api.as_admin()
    expect_problem(await admin.post("/api/webhooks", json=body), 422)


async def test_a_replayed_delivery_is_sent_again_with_the_same_id(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    endpoint = await register(admin, receiver)
    await alice.post("/api/agents", json={"name": "Helper"})
    (delivery,) = await settled(admin, endpoint, "succeeded")
    replayed = await admin.post(f"/api/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/replay")
    assert replayed.status == 202, replayed.text

    async def sent_twice() -> bool:
        return len(receiver.requests) == 2

    await wait_until(sent_twice, "the replay")
    assert [h["webhook-id"] for h, _, _ in receiver.requests] == [delivery["id"]] * 2


async def test_a_time_range_is_replayed(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    endpoint = await register(admin, receiver)
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    await alice.post("/api/agents", json={"name": "One"})
    await alice.post("/api/agents", json={"name": "Two"})
    await settled(admin, endpoint, "succeeded", count=2)
    result = await admin.post(f"/api/webhooks/{endpoint['id']}/replay", json={"since": since})
    assert result.json["data"] == {"replayed": 2}

    async def sent_again() -> bool:
        return len(receiver.requests) == 4

    await wait_until(sent_again, "both replays")


async def test_a_replay_of_another_endpoints_delivery_is_404(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    first, second = await register(admin, receiver), await register(admin, receiver)
    await alice.post("/api/agents", json={"name": "Helper"})
    (delivery,) = await settled(admin, first, "succeeded")
    assert (await admin.post(f"/api/webhooks/{second['id']}/deliveries/{delivery['id']}/replay")).status == 404
    assert (await admin.post(f"/api/webhooks/{second['id']}/deliveries/nonsense/replay")).status == 404


async def test_a_worker_killed_mid_delivery_loses_nothing(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    receiver.plan = ["hold"]
    endpoint = await register(admin, receiver)
    await alice.post("/api/agents", json={"name": "Helper"})

    async def in_flight() -> bool:
        return len(receiver.requests) == 1

    await wait_until(in_flight, "the first attempt")
    api.app[TASK].cancel()  # the worker dies with the attempt in flight: no outcome is written
    await asyncio.gather(api.app[TASK], return_exceptions=True)
    (delivery,) = await deliveries(admin, endpoint)
    assert delivery["status"] == "pending"
    delivery = await deliver_elsewhere(api, admin, endpoint)  # another worker, on the same database
    assert delivery["attempts"] == 2
    assert len({h["webhook-id"] for h, _, _ in receiver.requests}) == 1


async def deliver_elsewhere(api: Any, admin: Any, endpoint: dict[str, Any]) -> dict[str, Any]:
    """Run another worker on the same database until the endpoint's delivery succeeded."""
    task = asyncio.create_task(Worker(api.app[POOL], api.app[SETTINGS]).run())
    try:
        (delivery,) = await settled(admin, endpoint, "succeeded")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return delivery


async def test_several_workers_share_the_deliveries_without_sending_any_twice(api, receiver):
    admin, alice = await api.as_admin(), await api.as_user("alice")
    endpoint = await register(admin, receiver)
    others = [asyncio.create_task(Worker(api.app[POOL], api.app[SETTINGS]).run()) for _ in range(2)]
    try:
        for n in range(12):
            await alice.post("/api/agents", json={"name": f"Agent {n}"})
        await settled(admin, endpoint, "succeeded", count=12)
    finally:
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
    ids = [headers["webhook-id"] for headers, _, _ in receiver.requests]
    assert len(ids) == len(set(ids)) == 12


async def test_a_server_process_killed_mid_delivery_loses_nothing(api, receiver, engine_database_url, engine_schema):
    api.app[TASK].cancel()  # this process stays out of it until the server is gone
    await asyncio.gather(api.app[TASK], return_exceptions=True)
    admin, alice = await api.as_admin(), await api.as_user("alice")
    receiver.plan = ["hold"]
    endpoint = await register(admin, receiver)
    env = {**process_env(engine_database_url, engine_schema), **FAST, "ENGINE_AUTO_MIGRATE": "0"}
    env.update(ENGINE_JWT_SECRET=TEST_JWT_SECRET, ENGINE_FIELD_KEYS=TEST_FIELD_KEYS, ENGINE_WEBHOOK_TIMEOUT="2")

    async def in_flight() -> bool:
        return len(receiver.requests) == 1

    async with serving(cwd=ROOT, env=env) as (server, _):
        await alice.post("/api/agents", json={"name": "Helper"})
        await wait_until(in_flight, "the server's first attempt", within=60)
        os.killpg(server.process.pid, signal.SIGKILL)  # mid-request: no outcome can be written
        await server.process.wait()
    (delivery,) = await deliveries(admin, endpoint)
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    delivery = await deliver_elsewhere(api, admin, endpoint)
    assert delivery["attempts"] == 2
    assert [h["webhook-id"] for h, _, _ in receiver.requests] == [delivery["id"]] * 2


def metric(text: str, name: str) -> float:
    """A sample's value in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


class TestGivingUp:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_WEBHOOK_RETRY_PERIOD": "1", "ENGINE_WEBHOOK_DISABLE_AFTER": "1000"}

    async def test_a_delivery_failing_past_the_retry_period_is_dead_lettered(self, api, receiver):
        admin, alice = await api.as_admin(), await api.as_user("alice")
        receiver.plan = [500] * 1000
        endpoint = await register(admin, receiver)
        await alice.post("/api/agents", json={"name": "Helper"})
        (delivery,) = await settled(admin, endpoint, "failed")
        assert delivery["attempts"] >= 2 and delivery["response_status"] == 500 and delivery["next_attempt_at"] is None


class TestDisabling:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_WEBHOOK_DISABLE_AFTER": "3"}

    async def test_an_endpoint_failing_repeatedly_is_disabled_with_a_log_line(self, api, receiver, caplog):
        caplog.set_level(logging.WARNING, logger="engine.webhooks")
        admin, alice = await api.as_admin(), await api.as_user("alice")
        receiver.plan = [500] * 1000
        endpoint = await register(admin, receiver)
        await alice.post("/api/agents", json={"name": "Helper"})

        async def disabled() -> bool:
            return not (await admin.get(f"/api/webhooks/{endpoint['id']}")).json["data"]["enabled"]

        await wait_until(disabled, "the endpoint disabled")
        assert "disabled after 3 consecutive failed attempts" in caplog.text
        assert len(receiver.requests) == 3

    async def test_disabling_and_attempts_are_counted_in_the_metrics(self, api, receiver):
        admin, alice = await api.as_admin(), await api.as_user("alice")
        before = (await api.anonymous.get("/metrics")).text
        receiver.plan = [500] * 1000
        endpoint = await register(admin, receiver)
        await alice.post("/api/agents", json={"name": "Helper"})

        async def disabled() -> bool:
            return not (await admin.get(f"/api/webhooks/{endpoint['id']}")).json["data"]["enabled"]

        await wait_until(disabled, "the endpoint disabled")
        after = (await api.anonymous.get("/metrics")).text
        assert (
            metric(after, "engine_webhook_endpoints_disabled_total")
            == metric(before, "engine_webhook_endpoints_disabled_total") + 1
        )
        retried = 'engine_webhook_attempts_total{outcome="retried"}'
        assert metric(after, retried) >= metric(before, retried) + 3

    async def test_enabling_a_disabled_endpoint_resumes_its_deliveries(self, api, receiver):
        admin, alice = await api.as_admin(), await api.as_user("alice")
        receiver.plan = [500] * 3
        endpoint = await register(admin, receiver)
        await alice.post("/api/agents", json={"name": "Helper"})

        async def disabled() -> bool:
            return not (await admin.get(f"/api/webhooks/{endpoint['id']}")).json["data"]["enabled"]

        await wait_until(disabled, "the endpoint disabled")
        assert (await admin.patch(f"/api/webhooks/{endpoint['id']}", json={"enabled": True})).status == 200
        await settled(admin, endpoint, "succeeded")


class TestWithoutAllowedHosts:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_WEBHOOK_ALLOW_HOSTS": ""}

    async def test_a_host_name_resolving_to_loopback_is_never_contacted(self, api, receiver):
        admin, alice = await api.as_admin(), await api.as_user("alice")
        endpoint = await register(admin, receiver, url=receiver.url.replace("127.0.0.1", "localhost"))
        await alice.post("/api/agents", json={"name": "Helper"})

        async def refused() -> bool:
            return any((d["last_error"] or "").startswith("refused") for d in await deliveries(admin, endpoint))

        await wait_until(refused, "a refused attempt")
        assert receiver.requests == []
