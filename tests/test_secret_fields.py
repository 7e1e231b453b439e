"""Secret fields (`writeOnly: true`): accepted on writes, stored encrypted, and never sent back, in
any response, event, cached body, idempotent replay, log line or error. Reads say which are set."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from events_support import open_stream
from process_support import engine_env as process_env
from process_support import run_engine

from engine.db.pool import connect
from engine.features.openapi.schemas import create_schema, row_schema
from engine.features.secrets import FIELD_KEYS, reveal_secret
from engine.features.secrets.keys import Undecryptable, parse_keys
from engine.features.secrets.store import reveal, rotate
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.kernel.hooks import hookimpl
from engine.spec import load_spec
from engine.testing import PRODUCTION_TOKEN_CLAIMS

ROOT = Path(__file__).resolve().parent.parent
SECRET = "ghp_TopSecretValue0123456789abcdef"
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_FIELD_KEYS": OLD_KEY}


async def alice_with_agent(api, **fields):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json={"name": "Coder", "secrets": {"github": SECRET}, **fields})
    assert created.status == 201, created.text
    return alice, created


async def test_the_create_answer_says_which_secrets_are_set_never_their_values(api):
    _, created = await alice_with_agent(api)

    assert created.json["data"]["secrets"] == {"github": "set"}
    assert SECRET not in created.text


async def test_the_value_is_stored_encrypted(api):
    _, created = await alice_with_agent(api)

    [row] = await api.sql("select secrets from agents where id = $1", created.json["data"]["id"])

    assert SECRET not in str(row["secrets"])
    assert parse_keys(OLD_KEY).decrypt(row["secrets"]["github"]) == SECRET


async def test_reads_lists_and_projections_show_only_what_is_set(api):
    alice, created = await alice_with_agent(api)
    location = created.headers["Location"]

    answers = [
        await alice.get(location),
        await alice.get("/api/agents"),
        await alice.get("/api/agents?fields=id,secrets"),
        await alice.get(f"{location}?fields=secrets"),
    ]

    for answer in answers:
        assert answer.status == 200, answer.text
        assert SECRET not in answer.text
    assert answers[0].json["data"]["secrets"] == {"github": "set"}
    assert answers[2].json["data"][0]["secrets"] == {"github": "set"}


async def test_an_update_answer_and_the_nested_routes_never_show_the_value(api):
    alice, created = await alice_with_agent(api)
    agent = created.json["data"]
    team = (await alice.post("/api/teams", json={"name": "T"})).json["data"]
    shared = await alice.post(f"/api/teams/{team['id']}/agents", json={"agent_id": agent["id"]})

    updated = await alice.patch(f"/api/agents/{agent['id']}", json={"secrets": {"github": SECRET, "slack": SECRET}})
    nested = await alice.get(f"/api/teams/{team['id']}/agents?include=agent")
    embedded = await alice.get(f"/api/teams/{team['id']}/agents/{agent['id']}?include=agent")

    assert shared.status == 201, shared.text
    assert updated.json["data"]["secrets"] == {"github": "set", "slack": "set"}
    assert nested.json["data"][0]["agent"]["secrets"] == {"github": "set", "slack": "set"}
    for answer in (shared, updated, nested, embedded):
        assert SECRET not in answer.text


async def test_a_patch_replaces_the_whole_object_and_other_fields_keep_the_secrets(api):
    alice, created = await alice_with_agent(api)
    location = created.headers["Location"]

    renamed = await alice.patch(location, json={"name": "Renamed"})
    replaced = await alice.patch(location, json={"secrets": {"slack": "xoxb-1"}})

    assert renamed.json["data"]["secrets"] == {"github": "set"}
    assert replaced.json["data"]["secrets"] == {"slack": "set"}
    assert await reveal_secret(api.app, "agents", created.json["data"]["id"], "secrets") == {"slack": "xoxb-1"}


async def test_events_in_history_and_stream_carry_no_value(api):
    alice = await api.as_user("alice")
    async with open_stream(api, alice, "?resources=agents") as stream:
        _, created = await alice_with_agent(api)
        location = created.headers["Location"]
        await alice.patch(location, json={"secrets": {"github": SECRET + "2"}})
        await alice.delete(location)
        messages = await stream.events(3)

    history = await alice.get("/api/events?resource=agents&limit=100")
    stored = await api.sql("select data::text as data, changes::text as changes from _engine_events")

    assert [m.event for m in messages] == ["agents.created", "agents.updated", "agents.deleted"]
    assert all(SECRET not in m.data for m in messages)
    assert '"secrets":{"github":"set"}' in messages[0].data
    assert SECRET not in history.text and len(history.json["data"]) == 3
    assert all(SECRET not in (row["data"] + (row["changes"] or "")) for row in stored)


async def test_the_event_of_a_cascaded_delete_carries_no_value(api):
    _, created = await alice_with_agent(api)
    admin = await api.as_admin()

    assert (await admin.delete("/api/users/alice")).status == 204
    [deleted] = await api.sql(
        "select data::text as data from _engine_events where record_id = $1 and action = 'deleted'",
        created.json["data"]["id"],
    )

    assert SECRET not in deleted["data"] and '"secrets": {"github": "set"}' in deleted["data"]


def test_openapi_describes_the_row_with_the_mask_and_the_bodies_with_the_schema(engine_spec):
    agents = engine_spec.resources["agents"]

    read = row_schema(agents)["properties"]["secrets"]
    written = create_schema(agents)["properties"]["secrets"]

    assert read["additionalProperties"] == {"type": "string", "enum": ["set"]} and read["readOnly"] is True
    assert written["writeOnly"] is True and written["additionalProperties"]["type"] == "string"


async def test_an_idempotent_replay_carries_no_value(api):
    alice = await api.as_user("alice")
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "Coder", "secrets": {"github": SECRET}}

    first = await alice.post("/api/agents", json=body, headers=headers)
    replay = await alice.post("/api/agents", json=body, headers=headers)
    stored = await api.sql("select * from _engine_idempotency")

    assert replay.status == 201 and replay.body == first.body
    assert SECRET not in replay.text
    assert all(SECRET not in str(dict(row)) for row in stored)


async def test_validation_errors_name_the_rule_never_the_value(api, expect_problem):
    alice = await api.as_user("alice")
    too_long = SECRET * 400

    result = await alice.post("/api/agents", json={"name": "Coder", "secrets": {"github": too_long, "n": 5}})

    body = expect_problem(result, 422)
    assert SECRET not in result.text
    assert {e["path"] for e in body["errors"]} == {"/secrets/github", "/secrets/n"}


async def test_filtering_or_sorting_by_a_secret_is_a_400_like_an_unknown_field(api, expect_problem):
    alice, _ = await alice_with_agent(api)

    filtered = await alice.get("/api/agents?secrets[contains]=%7B%7D")
    sorted_ = await alice.get("/api/agents?sort=secrets")
    unknown = await alice.get("/api/agents?nonesuch=1")

    assert "unknown query parameter 'secrets'" in expect_problem(filtered, 400)["detail"]
    assert "unknown field 'secrets'" in expect_problem(sorted_, 400)["detail"]
    expect_problem(unknown, 400)


async def test_no_log_line_holds_the_value(api, caplog):
    caplog.set_level(logging.DEBUG)
    alice, created = await alice_with_agent(api)
    location = created.headers["Location"]
    await alice.patch(location, json={"secrets": {"github": SECRET * 400}})
    await alice.get(location)
    await alice.delete(location)

    assert caplog.records
    assert SECRET not in caplog.text


async def test_server_side_code_reads_the_plain_value(api):
    _, created = await alice_with_agent(api)

    value = await reveal_secret(api.app, "agents", created.json["data"]["id"], "secrets")

    assert value == {"github": SECRET}


async def test_rotation_re_encrypts_with_the_newest_key_and_old_keys_decrypt_before(api):
    _, created = await alice_with_agent(api)
    agent_id = created.json["data"]["id"]
    resource = api.spec.resources["agents"]
    both, new_only, old_only = parse_keys(f"{NEW_KEY},{OLD_KEY}"), parse_keys(NEW_KEY), parse_keys(OLD_KEY)
    conn = await connect(api.database_url, schema=api.schema)
    try:
        assert await reveal(conn, resource, agent_id, "secrets", both) == {"github": SECRET}
        with pytest.raises(Undecryptable):
            await reveal(conn, resource, agent_id, "secrets", new_only)

        done = await rotate(conn, resource, both)

        assert (done.rows, done.failed) == (1, 0)
        assert await reveal(conn, resource, agent_id, "secrets", new_only) == {"github": SECRET}
        with pytest.raises(Undecryptable):
            await reveal(conn, resource, agent_id, "secrets", old_only)
    finally:
        await conn.close()


async def test_the_rotate_command_re_encrypts_every_secret(api, engine_database_url, engine_schema):
    _, created = await alice_with_agent(api)
    env = process_env(engine_database_url, engine_schema, ENGINE_FIELD_KEYS=f"{NEW_KEY},{OLD_KEY}")

    done = await run_engine("keys", "rotate", cwd=ROOT, env=env)

    assert done.code == 0, done.output
    assert "agents: 1 row(s) re-encrypted" in done.output
    assert OLD_KEY not in done.output and NEW_KEY not in done.output
    [row] = await api.sql("select secrets from agents where id = $1", created.json["data"]["id"])
    assert parse_keys(NEW_KEY).decrypt(row["secrets"]["github"]) == SECRET


PRODUCTION = {
    "ENGINE_ENV": "production",
    "ENGINE_JWT_SECRET": "x" * 40,
    "ENGINE_SESSION_SECRET": "s" * 40,
    **PRODUCTION_TOKEN_CLAIMS,
}


async def test_values_stored_before_the_field_was_secret_are_encrypted_on_request(api):
    _, created = await alice_with_agent(api)
    agent_id = created.json["data"]["id"]
    await api.sql("""update agents set secrets = '{"old": "plain-value"}' where id = $1""", agent_id)
    resource, keys = api.spec.resources["agents"], parse_keys(OLD_KEY)
    conn = await connect(api.database_url, schema=api.schema)
    try:
        refused = await rotate(conn, resource, keys)
        adopted = await rotate(conn, resource, keys, encrypt_plain=True)

        assert (refused.rows, refused.failed) == (0, 1)
        assert (adopted.rows, adopted.failed) == (1, 0)
        assert await reveal(conn, resource, agent_id, "secrets", keys) == {"old": "plain-value"}
    finally:
        await conn.close()


def test_production_refuses_to_start_without_keys(engine_spec):
    config = Config.from_env(engine_spec, env=PRODUCTION)

    with pytest.raises(ConfigurationError, match="ENGINE_FIELD_KEYS is not set"):
        create_app(engine_spec, config)


def test_production_starts_with_keys(engine_spec):
    config = Config.from_env(engine_spec, env={**PRODUCTION, "ENGINE_FIELD_KEYS": f"{NEW_KEY},{OLD_KEY}"})

    assert create_app(engine_spec, config)[FIELD_KEYS].count == 2


def test_a_malformed_key_is_refused_without_echoing_it(engine_spec):
    env = {**PRODUCTION, "ENGINE_FIELD_KEYS": f"{NEW_KEY},not-a-key"}
    config = Config.from_env(engine_spec, env=env)

    with pytest.raises(ConfigurationError, match="key 2 of 2 is not a Fernet key") as refused:
        create_app(engine_spec, config)
    assert "not-a-key" not in str(refused.value)


def test_development_makes_a_key_under_dot_engine(write_spec, schema_of):
    path = write_spec(
        "version: 1\nresources:\n  vaults:\n    schema: schemas/vault.json\n",
        {"schemas/vault.json": schema_of({"id": {"type": "string", "format": "uuid"}, "token": SECRET_STRING})},
    )
    spec = load_spec(str(path))
    create_app(spec, Config.from_env(spec, env={"ENGINE_ENV": "development", "ENGINE_JWT_SECRET": "x" * 40}))

    key = (path.parent / ".engine" / "field-keys").read_text().strip()
    assert parse_keys(key).count == 1


SECRET_STRING = {"type": "string", "writeOnly": True, "maxLength": 100}


VAULT_YAML = """
version: 1
resources:
  vaults:
    schema: schemas/vault.json
    owner: user_id
    unique: [[name]]
    cache: {ttl: 60}
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
"""
VAULT = {
    "id": {"type": "string", "format": "uuid"},
    "user_id": {"type": "string"},
    "name": {"type": "string"},
    "token": {"type": "string", "writeOnly": True, "minLength": 8},
}


class CachedBodies:
    """A cache store plugin that keeps every body the engine hands it (and answers nothing)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    @hookimpl
    def cache_put(self, body: bytes) -> None:
        self.bodies.append(body)


class TestARequiredStringSecretOnACachedResource:
    @pytest.fixture
    def engine_spec_path(self, write_spec, schema_of) -> str:
        return str(write_spec(VAULT_YAML, {"schemas/vault.json": schema_of(VAULT, ["name", "token"])}))

    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_FIELD_KEYS": OLD_KEY, "ENGINE_RATE_LIMIT": "off"}

    @pytest.fixture
    def engine_plugins(self) -> list:
        return [CachedBodies()]

    async def a_vault(self, api):
        alice = await api.as_user("alice")
        created = await alice.post("/api/vaults", json={"name": "v", "token": SECRET})
        assert created.status == 201, created.text
        return alice, created

    async def test_a_string_secret_reads_as_set(self, api):
        alice, created = await self.a_vault(api)

        read = await alice.get(created.headers["Location"])

        assert created.json["data"]["token"] == "set" and read.json["data"]["token"] == "set"
        assert SECRET not in created.text + read.text

    async def test_a_cached_body_carries_no_value(self, api, engine_plugins):
        alice, _ = await self.a_vault(api)

        first = await alice.get("/api/vaults")
        again = await alice.get("/api/vaults")

        assert first.body == again.body and SECRET not in again.text
        [store] = engine_plugins
        assert store.bodies and all(SECRET.encode() not in body for body in store.bodies)

    async def test_an_update_without_the_required_secret_keeps_it(self, api):
        alice, created = await self.a_vault(api)

        renamed = await alice.patch(created.headers["Location"], json={"name": "renamed"})

        assert renamed.status == 200, renamed.text
        assert await reveal_secret(api.app, "vaults", created.json["data"]["id"], "token") == SECRET

    async def test_a_create_without_the_required_secret_is_a_422(self, api, expect_problem):
        alice = await api.as_user("alice")

        result = await alice.post("/api/vaults", json={"name": "v"})

        assert expect_problem(result, 422)["errors"] == [{"path": "/token", "message": "'token' is required"}]

    async def test_a_conflict_carries_no_value(self, api, expect_problem):
        alice, _ = await self.a_vault(api)

        again = await alice.post("/api/vaults", json={"name": "v", "token": SECRET + "-other"})

        expect_problem(again, 409)
        assert SECRET not in again.text

    async def test_a_too_short_secret_is_a_422_without_its_value(self, api, expect_problem):
        alice = await api.as_user("alice")

        result = await alice.post("/api/vaults", json={"name": "v", "token": "short1"})

        [error] = expect_problem(result, 422)["errors"]
        assert error == {"path": "/token", "message": "the value does not satisfy 'minLength'"}
        assert "short1" not in result.text
