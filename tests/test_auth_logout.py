"""Sessions end on the server: logout, sign out everywhere, and a sign-in that completes once only.

Cookie sessions live in the browser, so each one has a server record (docs/auth.md, "Sessions");
the Redis variants need REDIS_URL and skip, saying so, without it.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import pytest
from stand_in_oidc_provider import (  # noqa: F401
    google_env,
    oidc_provider_fixture,
    path_of,
    sign_in,
    visit_provider,
)

REDIS_URL = os.environ.get("REDIS_URL")


@pytest.fixture
def engine_env(oidc_provider):
    return google_env(oidc_provider)


async def csrf(api):
    return {"X-CSRF-Token": (await api.anonymous.get("/auth/csrf")).json["csrf_token"]}


def session_cookie(result):
    """The Cookie header a copy of this browser's session cookie would send."""
    return result.headers["Set-Cookie"].split(";")[0]


async def tokens(api):
    result = await api.anonymous.post("/auth/token", headers=await csrf(api))
    assert result.status == 200, result.text
    return result.json


async def refresh(api, refresh_token):
    jar = api.client.session.cookie_jar
    saved = list(jar)
    jar.clear()
    try:
        return await api.anonymous.post("/auth/refresh", json={"refresh_token": refresh_token})
    finally:
        for morsel in saved:
            jar.update_cookies({morsel.key: morsel})


async def replay(api, cookie, path="/api/me"):
    api.client.session.cookie_jar.clear()
    return await api.anonymous.get(path, headers={"Cookie": cookie})


async def test_a_copied_session_cookie_is_401_after_logout(api, oidc_provider):
    copied = session_cookie(await sign_in(api))
    assert (await api.anonymous.post("/auth/logout", headers=await csrf(api))).status == 204
    assert (await replay(api, copied)).status == 401


async def test_an_ended_sessions_401_clears_the_cookie(api, oidc_provider):
    copied = session_cookie(await sign_in(api))
    await api.anonymous.post("/auth/logout", headers=await csrf(api))
    result = await replay(api, copied)
    assert 'engine_session=""' in result.headers["Set-Cookie"]
    assert "Max-Age=0" in result.headers["Set-Cookie"]


async def test_after_an_ended_session_the_browser_can_sign_in_again(api, oidc_provider):
    copied = session_cookie(await sign_in(api))
    await api.anonymous.post("/auth/logout", headers=await csrf(api))
    await replay(api, copied)  # the 401 cleared it: the browser now sends no cookie
    api.client.session.cookie_jar.clear()
    await sign_in(api)
    assert (await api.anonymous.get("/api/me")).status == 200


async def test_logout_leaves_the_same_users_other_sessions_alone(api, oidc_provider):
    laptop = session_cookie(await sign_in(api))
    api.client.session.cookie_jar.clear()
    await sign_in(api)  # the phone
    assert (await api.anonymous.post("/auth/logout", headers=await csrf(api))).status == 204
    assert (await replay(api, laptop)).status == 200


async def test_logout_all_ends_every_session_of_the_caller(api, oidc_provider):
    laptop = session_cookie(await sign_in(api))
    api.client.session.cookie_jar.clear()
    await sign_in(api)
    assert (await api.anonymous.post("/auth/logout?all=true", headers=await csrf(api))).status == 204
    assert (await replay(api, laptop)).status == 401


async def test_logout_all_revokes_every_refresh_family_of_the_caller(api, oidc_provider):
    await sign_in(api)
    first, second = await tokens(api), await tokens(api)
    assert (await api.anonymous.post("/auth/logout?all=true", headers=await csrf(api))).status == 204
    assert (await refresh(api, first["refresh_token"])).status == 401
    assert (await refresh(api, second["refresh_token"])).status == 401


async def test_logout_all_with_a_bearer_token_needs_no_refresh_token(api, oidc_provider):
    copied = session_cookie(await sign_in(api))
    pair = await tokens(api)
    api.client.session.cookie_jar.clear()
    result = await api.with_token(pair["access_token"]).post("/auth/logout?all=true")
    assert result.status == 204
    assert (await refresh(api, pair["refresh_token"])).status == 401
    assert (await replay(api, copied)).status == 401


async def test_logout_all_with_only_a_refresh_token_signs_its_user_out_everywhere(api, oidc_provider):
    copied = session_cookie(await sign_in(api))
    pair = await tokens(api)
    api.client.session.cookie_jar.clear()
    result = await api.anonymous.post("/auth/logout?all=true", json={"refresh_token": pair["refresh_token"]})
    assert result.status == 204
    assert (await replay(api, copied)).status == 401


async def test_logout_all_leaves_other_users_alone(api, oidc_provider):
    await sign_in(api)
    pair = await tokens(api)
    bob = await api.as_user("bob")
    assert (await bob.post("/auth/logout?all=true")).status == 204
    assert (await refresh(api, pair["refresh_token"])).status == 200


async def test_an_api_key_cannot_sign_its_owner_out_everywhere(api, oidc_provider, expect_problem):
    copied = session_cookie(await sign_in(api))
    pair = await tokens(api)
    made = await api.anonymous.post(
        "/api/me/api-keys", json={"name": "ci", "scopes": ["*:read"]}, headers=await csrf(api)
    )
    assert made.status == 201, made.text
    api.client.session.cookie_jar.clear()
    result = await api.anonymous.post("/auth/logout?all=true", headers={"X-API-Key": made.json["data"]["key"]})
    assert "API key cannot sign its owner out everywhere" in expect_problem(result, 403)["detail"]
    assert (await replay(api, copied)).status == 200
    assert (await refresh(api, pair["refresh_token"])).status == 200


async def test_logout_all_must_be_true_or_false(api, oidc_provider):
    await sign_in(api)
    assert (await api.anonymous.post("/auth/logout?all=maybe", headers=await csrf(api))).status == 400


async def test_a_pending_sign_in_completes_once_even_with_the_pre_login_cookie_replayed(api, oidc_provider):
    login = await api.anonymous.get("/auth/google/login", allow_redirects=False)
    pre_login = session_cookie(login)
    first = await visit_provider(login.headers["Location"])
    second = await visit_provider(login.headers["Location"])  # a second code for the same sign-in
    assert (await api.anonymous.get(path_of(first), allow_redirects=False)).status == 302
    api.client.session.cookie_jar.clear()
    result = await api.anonymous.get(path_of(second), headers={"Cookie": pre_login}, allow_redirects=False)
    assert result.status == 400
    assert "already completed" in result.json["detail"]
    assert parse_qs(urlsplit(second).query)["code"][0] in oidc_provider.codes
    assert oidc_provider.codes[parse_qs(urlsplit(second).query)["code"][0]]["used"] is False  # never exchanged


async def test_a_replayed_pre_login_cookie_signs_nobody_in(api, oidc_provider):
    login = await api.anonymous.get("/auth/google/login", allow_redirects=False)
    pre_login = session_cookie(login)
    first = await visit_provider(login.headers["Location"])
    second = await visit_provider(login.headers["Location"])
    await api.anonymous.get(path_of(first), allow_redirects=False)
    api.client.session.cookie_jar.clear()
    await api.anonymous.get(path_of(second), headers={"Cookie": pre_login}, allow_redirects=False)
    assert (await api.anonymous.get("/api/me")).status == 401


@pytest.mark.skipif(not REDIS_URL, reason="set REDIS_URL to test Redis-backed sessions")
class TestRedisSessions:
    @pytest.fixture
    def engine_env(self, oidc_provider):
        return google_env(oidc_provider, REDIS_URL=REDIS_URL)

    async def test_a_copied_session_id_is_401_after_logout(self, api, oidc_provider):
        copied = session_cookie(await sign_in(api))
        assert (await api.anonymous.post("/auth/logout", headers=await csrf(api))).status == 204
        assert (await replay(api, copied)).status == 401

    async def test_logout_all_ends_every_session_of_the_caller(self, api, oidc_provider):
        laptop = session_cookie(await sign_in(api))
        api.client.session.cookie_jar.clear()
        await sign_in(api)
        assert (await api.anonymous.post("/auth/logout?all=true", headers=await csrf(api))).status == 204
        assert (await replay(api, laptop)).status == 401

    async def test_a_deleted_users_session_is_401(self, api, oidc_provider):
        copied = session_cookie(await sign_in(api))
        user_id = (await api.anonymous.get("/api/me")).json["data"]["id"]
        admin = await api.as_admin()
        assert (await admin.delete(f"/api/users/{user_id}")).status == 204
        assert (await replay(api, copied)).status == 401
