"""The API-key example plugin (tests/plugins/api_keys.py) replaces JWT through the public hooks only."""

from __future__ import annotations

import importlib.util
import os

import pytest

HERE = os.path.dirname(__file__)


def load_example_plugin():
    path = os.path.join(HERE, "plugins", "api_keys.py")
    spec = importlib.util.spec_from_file_location("example_api_keys_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


api_keys = load_example_plugin()


@pytest.fixture
def engine_spec_path():
    return os.path.join(HERE, "specs", "api_keys", "resources.yaml")


@pytest.fixture
def engine_plugins():
    return [api_keys]


@pytest.fixture
async def keys(api):
    """alice and bob, each with a key an operator created (the first key has to come from somewhere)."""
    for user in ("alice", "bob"):
        await api.sql("insert into users (id, email) values ($1, $2)", user, f"{user}@example.test")
        await api.sql(
            "insert into api_keys (user_id, name, key_hash) values ($1, 'bootstrap', $2)",
            user,
            api_keys.hash_key(f"ak_{user}"),
        )
    return {"alice": "ak_alice", "bob": "ak_bob"}


def with_key(api, key):
    from engine.testing import ApiClient

    return ApiClient(api.client, {"Authorization": f"ApiKey {key}"})


async def test_an_api_key_signs_its_user_in(api, keys):
    created = await with_key(api, keys["alice"]).post("/api/notes", json={"text": "hello"})
    assert created.status == 201
    assert created.json["data"]["user_id"] == "alice"


async def test_an_unknown_api_key_is_401_with_an_api_key_challenge(api, keys):
    result = await with_key(api, "ak_guessed").get("/api/notes")
    assert result.status == 401
    assert result.headers["WWW-Authenticate"] == 'ApiKey realm="api"'
    assert "ak_guessed" not in result.text


async def test_an_api_key_sees_only_its_users_rows(api, keys):
    created = await with_key(api, keys["alice"]).post("/api/notes", json={"text": "alice's"})
    result = await with_key(api, keys["bob"]).get(f"/api/notes/{created.json['data']['id']}")
    assert result.status == 404


async def test_a_bearer_jwt_is_not_a_credential_when_jwt_auth_is_disabled(api, keys):
    result = await api.with_token(api.token("alice")).get("/api/notes")
    assert result.status == 401


async def test_a_minted_key_is_shown_once_stored_hashed_and_works(api, keys):
    minted = await with_key(api, keys["alice"]).post("/auth/api-keys", json={"name": "ci"})
    assert minted.status == 201
    key = minted.json["data"]["key"]
    stored = [r["key_hash"] for r in await api.sql("select key_hash from api_keys where name = 'ci'")]
    assert stored == [api_keys.hash_key(key)]
    assert (await with_key(api, key).get("/api/notes")).status == 200


async def test_minting_a_key_needs_a_signed_in_caller(api, keys):
    assert (await api.anonymous.post("/auth/api-keys", json={"name": "ci"})).status == 401


async def test_deleting_a_key_revokes_it(api, keys):
    minted = (await with_key(api, keys["alice"]).post("/auth/api-keys", json={"name": "ci"})).json["data"]
    assert (await with_key(api, keys["alice"]).delete(f"/api/api_keys/{minted['id']}")).status == 204
    assert (await with_key(api, minted["key"]).get("/api/notes")).status == 401


async def test_a_user_lists_only_their_own_keys(api, keys):
    listed = await with_key(api, keys["bob"]).get("/api/api_keys")
    assert [row["user_id"] for row in listed.json["data"]] == ["bob"]
