"""Nothing outlives a deleted user: its sessions, refresh tokens and access tokens are refused, its
id is retired for good, and nothing recorded about it reaches a later user (docs/auth.md)."""

from __future__ import annotations

import pytest
from stand_in_oidc_provider import google_env, oidc_provider_fixture, sign_in  # noqa: F401


@pytest.fixture
def engine_env(oidc_provider):
    return google_env(oidc_provider)


async def csrf(api):
    return {"X-CSRF-Token": (await api.anonymous.get("/auth/csrf")).json["csrf_token"]}


async def signed_in_user(api):
    """Sign in through the provider; returns (user id, token response) with the browser still signed in."""
    await sign_in(api)
    user_id = (await api.anonymous.get("/api/me")).json["data"]["id"]
    tokens = await api.anonymous.post("/auth/token", headers=await csrf(api))
    assert tokens.status == 200, tokens.text
    return user_id, tokens.json


async def delete_user(api, user_id):
    admin = await api.as_admin()
    result = await admin.delete(f"/api/users/{user_id}")
    assert result.status == 204, result.text


async def test_deleting_a_user_revokes_every_refresh_family_of_the_user(api, oidc_provider):
    user_id, _ = await signed_in_user(api)
    await api.anonymous.post("/auth/token", headers=await csrf(api))  # a second family
    await delete_user(api, user_id)
    rows = await api.sql("select revoked_at from _engine_refresh_tokens where user_id = $1", user_id)
    assert len(rows) == 2
    assert all(r["revoked_at"] is not None for r in rows)


async def test_deleting_a_user_ends_every_session_of_the_user(api, oidc_provider):
    user_id, _ = await signed_in_user(api)
    await delete_user(api, user_id)
    rows = await api.sql("select ended_at from _engine_sessions where user_id = $1", user_id)
    assert rows and all(r["ended_at"] is not None for r in rows)


async def test_a_deleted_users_refresh_token_is_401(api, oidc_provider):
    user_id, tokens = await signed_in_user(api)
    await delete_user(api, user_id)
    api.client.session.cookie_jar.clear()
    result = await api.anonymous.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert result.status == 401


async def test_a_deleted_users_session_cookie_is_401(api, oidc_provider):
    user_id, _ = await signed_in_user(api)
    await delete_user(api, user_id)
    assert (await api.anonymous.get("/api/agents")).status == 401


async def test_a_deleted_users_access_token_is_401_on_every_route(api, oidc_provider):
    user_id, tokens = await signed_in_user(api)
    await delete_user(api, user_id)
    api.client.session.cookie_jar.clear()
    deleted = api.with_token(tokens["access_token"])
    for route in api.app.router.routes():
        path = route.resource.canonical if route.resource is not None else None
        if path is None or route.method in ("*", "HEAD", "OPTIONS"):
            continue
        concrete = path.replace("{", "").replace("}", "")  # /api/agents/{id} -> /api/agents/id
        result = await deleted.request(route.method, concrete)
        assert result.status == 401, f"{route.method} {path}: {result.status} {result.text[:200]}"


async def test_a_deleted_user_created_with_an_explicit_id_is_refused_by_that_id(api):
    alice = await api.as_user("alice")
    await delete_user(api, "alice")
    result = await alice.get("/api/agents")
    assert result.status == 401
    assert "deleted" in result.json["detail"]


async def test_a_deleted_users_id_is_never_given_to_a_new_user(api):
    await api.as_user("alice")
    await delete_user(api, "alice")
    admin = await api.as_admin()
    result = await admin.post("/api/users", json={"id": "alice", "email": "new-alice@example.test"})
    assert result.status == 409
    assert "never given out again" in result.json["detail"]
    assert await api.sql("select id from users where id = 'alice'") == []


async def test_signing_in_again_after_deletion_makes_a_new_user_who_sees_none_of_the_old_events(api, oidc_provider):
    old_id, _ = await signed_in_user(api)
    created = await api.anonymous.post("/api/agents", json={"name": "Old"}, headers=await csrf(api))
    assert created.status == 201
    await delete_user(api, old_id)
    api.client.session.cookie_jar.clear()
    new_id, tokens = await signed_in_user(api)  # the same Google account
    assert new_id != old_id
    events = await api.with_token(tokens["access_token"]).get("/api/events")
    assert events.status == 200
    old = {old_id, created.json["data"]["id"]}
    assert [e for e in events.json["data"] if e["record_id"] in old] == []


VETO_AT_COMMIT = [
    "create function veto_user_delete() returns trigger language plpgsql as "
    "$$ begin raise exception 'vetoed at commit by the test'; end $$",
    "create constraint trigger veto_user_delete after delete on users deferrable initially deferred "
    "for each row execute function veto_user_delete()",
]


async def test_a_user_delete_that_fails_at_commit_revokes_nothing(api, oidc_provider):
    """The revocations live in the delete's transaction: when its commit fails, none of them happened."""
    user_id, tokens = await signed_in_user(api)
    for statement in VETO_AT_COMMIT:
        await api.sql(statement)
    admin = await api.as_admin()
    assert (await admin.delete(f"/api/users/{user_id}")).status != 204
    assert await api.sql("select * from _engine_retired_users") == []
    assert (await api.anonymous.get("/api/me")).status == 200
    api.client.session.cookie_jar.clear()
    result = await api.anonymous.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert result.status == 200


class TestAnotherSpecsUsersResource:
    """Generic: the rules follow whatever spec declares the `users` resource (here tests/specs/auth)."""

    @pytest.fixture
    def engine_spec_path(self, request):
        return str(request.config.rootpath / "tests" / "specs" / "auth" / "resources.yaml")

    @pytest.fixture
    def engine_env(self):
        from engine.testing import TEST_JWT_SECRET, TEST_SESSION_SECRET

        return {"ENGINE_JWT_SECRET": TEST_JWT_SECRET, "ENGINE_SESSION_SECRET": TEST_SESSION_SECRET}

    async def test_a_deleted_users_token_is_401_and_the_id_is_retired(self, api):
        bea = await api.as_user("bea")
        assert (await bea.post("/api/notes", json={"text": "mine"})).status == 201
        await delete_user(api, "bea")
        assert (await bea.get("/api/notes")).status == 401
        admin = await api.as_admin()
        assert (await admin.post("/api/users", json={"id": "bea", "email": "b2@example.test"})).status == 409
