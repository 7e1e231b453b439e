"""Scoped API keys (engine/features/api_keys): created by a signed-in user, shown once, stored as a
hash, sent as X-API-Key or a `rek_` bearer token, narrowed by scopes, revoked at once."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.http.app import create_app
from engine.kernel.config import Config
from engine.testing import ApiClient

ALL_READ = ["*:read"]


async def make_key(client: Any, scopes: list[str], **body: Any) -> dict[str, Any]:
    result = await client.post("/api/me/api-keys", json={"name": "ci", "scopes": scopes, **body})
    assert result.status == 201, result.text
    return result.json["data"]


def with_key(api: Any, key: str, *, bearer: bool = False) -> ApiClient:
    header = {"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key}
    return ApiClient(api.client, header)


async def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(api):
    alice = await api.as_user("alice")
    created = await make_key(alice, ["agents:read"])
    assert created["key"].startswith("rek_") and created["prefix"] == created["key"][:12]
    stored = await api.sql("select key_hash from _engine_api_keys")
    assert [row["key_hash"] for row in stored] == [hashlib.sha256(created["key"].encode()).hexdigest()]
    listed = (await alice.get("/api/me/api-keys")).json["data"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and created["key"] not in str(listed)


async def test_a_key_lists_name_prefix_scopes_and_dates(api):
    alice = await api.as_user("alice")
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    await make_key(alice, ["agents:read", "teams:read"], expires_at=expires)
    (listed,) = (await alice.get("/api/me/api-keys")).json["data"]
    assert listed["name"] == "ci" and listed["scopes"] == ["agents:read", "teams:read"]
    assert {"created_at", "last_used_at", "expires_at", "prefix"} <= set(listed)
    assert listed["expires_at"] is not None and listed["last_used_at"] is None


@pytest.mark.parametrize("bearer", [False, True])
async def test_a_key_signs_its_owner_in_by_either_header(api, bearer):
    alice = await api.as_user("alice")
    key = (await make_key(alice, ["users:read"]))["key"]
    result = await with_key(api, key, bearer=bearer).get("/api/me")
    assert result.status == 200, result.text
    assert result.json["data"]["id"] == "alice"


async def test_with_an_authorization_header_an_api_key_header_is_not_read(api):
    alice = await api.as_user("alice")
    both = ApiClient(api.client, {**alice.headers, "X-API-Key": "rek_" + "x" * 43})
    result = await both.get("/api/me")
    assert result.status == 200, result.text
    assert result.json["data"]["id"] == "alice"


async def test_a_key_records_when_it_was_last_used(api):
    alice = await api.as_user("alice")
    key = (await make_key(alice, ["users:read"]))["key"]
    await with_key(api, key).get("/api/me")
    (listed,) = (await alice.get("/api/me/api-keys")).json["data"]
    assert listed["last_used_at"] is not None


async def test_a_read_scope_cannot_write(api, expect_problem):
    alice = await api.as_user("alice")
    key = (await make_key(alice, ["agents:read"]))["key"]
    result = await with_key(api, key).post("/api/agents", json={"name": "Helper"})
    assert "scopes" in expect_problem(result, 403)["detail"]


async def test_a_scope_for_one_resource_cannot_read_another(api, expect_problem):
    alice = await api.as_user("alice")
    key = (await make_key(alice, ["agents:read"]))["key"]
    expect_problem(await with_key(api, key).get("/api/teams"), 403)


async def test_a_key_reads_the_events_of_its_scopes_only(api):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json={"name": "Helper"})
    await alice.post("/api/teams", json={"name": "Crew"})
    key = (await make_key(alice, ["teams:read"]))["key"]
    listed = await with_key(api, key).get("/api/events")
    assert listed.status == 200, listed.text
    assert {event["resource"] for event in listed.json["data"]} == {"teams"}


async def test_a_read_scope_cannot_answer_an_invitation(api, expect_problem):
    owner, bob = await api.as_user("owner"), await api.as_user("bob")
    team_id = (await owner.post("/api/teams", json={"name": "Crew"})).json["data"]["id"]
    assert (await owner.post(f"/api/teams/{team_id}/members", json={"user_id": "bob"})).status == 202
    key = (await make_key(bob, ["teams:read"]))["key"]
    expect_problem(await with_key(api, key).post(f"/api/teams/{team_id}/members/bob/accept"), 403)
    write_key = (await make_key(bob, ["teams:write", "teams:read"]))["key"]
    assert (await with_key(api, write_key).post(f"/api/teams/{team_id}/members/bob/accept")).status == 200


async def test_a_write_scope_writes_as_the_owner(api):
    alice = await api.as_user("alice")
    key = (await make_key(alice, ["agents:write", "agents:read"]))["key"]
    created = await with_key(api, key).post("/api/agents", json={"name": "Helper"})
    assert created.status == 201, created.text
    assert created.json["data"]["user_id"] == "alice"


async def test_a_key_sees_only_its_owners_rows(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    bobs = (await bob.post("/api/agents", json={"name": "Bob's"})).json["data"]
    key = (await make_key(alice, ALL_READ))["key"]
    assert (await with_key(api, key).get(f"/api/agents/{bobs['id']}")).status == 404
    assert (await with_key(api, key).get("/api/agents")).json["data"] == []


async def test_a_deleted_key_is_401_at_its_next_request(api, expect_problem):
    alice = await api.as_user("alice")
    created = await make_key(alice, ["users:read"])
    client = with_key(api, created["key"])
    assert (await client.get("/api/me")).status == 200
    assert (await alice.delete(f"/api/me/api-keys/{created['id']}")).status == 204
    expect_problem(await client.get("/api/me"), 401)


async def test_a_key_revoked_through_one_worker_is_refused_by_another_at_once(
    api, aiohttp_client, engine_spec, engine_env, engine_database_url, engine_schema, expect_problem
):
    config = Config.from_env(
        engine_spec, env=engine_env, database_url=engine_database_url, db_schema=engine_schema, auto_migrate=False
    )
    other_worker = await aiohttp_client(create_app(engine_spec, config))
    alice = await api.as_user("alice")
    created = await make_key(alice, ["users:read"])
    elsewhere = ApiClient(other_worker, {"X-API-Key": created["key"]})
    assert (await elsewhere.get("/api/me")).status == 200
    assert (await alice.delete(f"/api/me/api-keys/{created['id']}")).status == 204
    expect_problem(await elsewhere.get("/api/me"), 401)


async def test_an_expired_key_is_401(api, expect_problem):
    alice = await api.as_user("alice")
    created = await make_key(alice, ["users:read"], expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    await api.sql("update _engine_api_keys set expires_at = now() - interval '1 second'")
    assert "expired" in expect_problem(await with_key(api, created["key"]).get("/api/me"), 401)["detail"]


async def test_an_unknown_key_is_401_and_never_echoed(api, expect_problem, caplog):
    caplog.set_level(logging.DEBUG)
    key = "rek_" + "x" * 43
    result = await with_key(api, key, bearer=True).get("/api/agents")
    expect_problem(result, 401)
    assert key not in result.text and key not in caplog.text


async def test_a_key_never_appears_in_logs_or_events(api, caplog):
    caplog.set_level(logging.DEBUG)
    alice = await api.as_user("alice")
    key = (await make_key(alice, ["agents:write", "agents:read"]))["key"]
    await with_key(api, key).post("/api/agents", json={"name": "Helper"})
    events = await api.sql("select * from _engine_events")
    assert events and key not in str([dict(e) for e in events])
    assert key not in caplog.text


async def test_another_users_key_cannot_be_deleted_and_is_404(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    created = await make_key(alice, ALL_READ)
    assert (await bob.delete(f"/api/me/api-keys/{created['id']}")).status == 404
    assert (await bob.delete("/api/me/api-keys/not-a-uuid")).status == 404
    assert len((await alice.get("/api/me/api-keys")).json["data"]) == 1


async def test_a_key_cannot_create_list_or_delete_keys(api, expect_problem):
    alice = await api.as_user("alice")
    created = await make_key(alice, ["*:read", "*:write"])
    client = with_key(api, created["key"])
    expect_problem(await client.post("/api/me/api-keys", json={"name": "x", "scopes": ALL_READ}), 403)
    expect_problem(await client.get("/api/me/api-keys"), 403)
    expect_problem(await client.delete(f"/api/me/api-keys/{created['id']}"), 403)


async def test_anonymous_callers_cannot_create_keys(api, expect_problem):
    expect_problem(await api.anonymous.post("/api/me/api-keys", json={"name": "x", "scopes": ALL_READ}), 401)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": ["nonsense:read"]},
        {"name": "x", "scopes": ["agents:delete"]},
        {"name": "x", "scopes": []},
        {"name": "", "scopes": ALL_READ},
        {"name": "x", "scopes": ALL_READ, "roles": ["admin"]},
        {"name": "x", "scopes": ALL_READ, "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "x", "scopes": ALL_READ, "expires_at": "tomorrow"},
        {"name": "x", "scopes": ALL_READ, "expires_at": "2999-01-01T00:00:00"},
        {"name": "x", "scopes": ALL_READ, "extra": 1},
    ],
)
async def test_a_bad_creation_request_is_422(api, expect_problem, body):
    alice = await api.as_user("alice")
    expect_problem(await alice.post("/api/me/api-keys", json=body), 422)


async def test_an_admins_key_keeps_admin_rights_within_its_scopes(api):
    admin = await api.as_admin()
    await api.as_user("alice")
    key = (await make_key(admin, ["users:read"]))["key"]
    assert (await with_key(api, key).get("/api/users/alice")).status == 200
    assert (await with_key(api, key).delete("/api/users/alice")).status == 403


async def test_a_key_without_roles_of_an_admin_is_an_ordinary_user(api):
    admin = await api.as_admin()
    await api.as_user("alice")
    key = (await make_key(admin, ["*:read", "*:write"], roles=[]))["key"]
    assert (await with_key(api, key).delete("/api/users/alice")).status == 403


async def test_a_deleted_owners_keys_are_refused_and_gone(api, expect_problem):
    admin = await api.as_admin()
    alice = await api.as_user("alice")
    key = (await make_key(alice, ["users:read"]))["key"]
    assert (await admin.delete("/api/users/alice")).status == 204
    expect_problem(await with_key(api, key).get("/api/me"), 401)
    assert await api.sql("select 1 from _engine_api_keys") == []


async def test_admins_list_and_revoke_any_users_keys(api, expect_problem):
    admin = await api.as_admin()
    alice = await api.as_user("alice")
    created = await make_key(alice, ["users:read"])
    listed = (await admin.get("/api/api-keys?user_id=alice")).json["data"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert (await admin.delete(f"/api/api-keys/{created['id']}")).status == 204
    expect_problem(await with_key(api, created["key"]).get("/api/me"), 401)


@pytest.mark.parametrize("query", ["userid=alice", "user_id=alice&user_id=bob", "user_id=%00", "user_id=a%00b"])
async def test_an_admins_key_list_with_a_wrong_parameter_is_400_not_everyones_keys(api, expect_problem, query):
    admin = await api.as_admin()
    await make_key(await api.as_user("bob"), ["users:read"])
    expect_problem(await admin.get(f"/api/api-keys?{query}"), 400)


async def test_listing_your_own_keys_refuses_an_unknown_parameter(api, expect_problem):
    alice = await api.as_user("alice")
    assert "unknown query parameter 'x'" in expect_problem(await alice.get("/api/me/api-keys?x=1"), 400)["detail"]


async def test_other_users_cannot_use_the_admin_key_routes(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.get("/api/api-keys"), 403)


class TestRateLimits:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_RATE_LIMIT": "3/minute"}

    async def test_rate_limits_count_per_key(self, api):
        alice = await api.as_user("alice")
        one = (await make_key(alice, ["users:read"]))["key"]
        statuses = [(await with_key(api, one).get("/api/me")).status for _ in range(4)]
        assert statuses[-1] == 429
        other = (await make_key(alice, ["users:read"]))["key"]
        assert (await with_key(api, other).get("/api/me")).status == 200
