"""The API-key example plugin (tests/plugins/api_keys.py) replaces JWT through the public hooks only."""

from __future__ import annotations

import api_keys_example_support as example
from api_keys_example_support import api_keys, with_key

engine_spec_path = example.engine_spec_path
engine_plugins = example.engine_plugins
keys = example.keys


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
