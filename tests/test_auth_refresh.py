"""Token endpoints: session -> tokens, refresh-token rotation, reuse detection, logout revocation."""

from __future__ import annotations

import hashlib

import pytest
from stand_in_oidc_provider import google_env, oidc_provider_fixture, sign_in  # noqa: F401


@pytest.fixture
def engine_env(oidc_provider):
    return google_env(oidc_provider)


async def csrf(api):
    return {"X-CSRF-Token": (await api.anonymous.get("/auth/csrf")).json["csrf_token"]}


async def tokens(api):
    """Sign in with the stand-in provider and exchange the session for tokens."""
    await sign_in(api)
    result = await api.anonymous.post("/auth/token", headers=await csrf(api))
    assert result.status == 200, result.text
    return result.json


async def refresh(api, refresh_token):
    return await api.client_without_cookies.post("/auth/refresh", json={"refresh_token": refresh_token})


@pytest.fixture
def api(api):
    """The same api, plus a client that never sends the browser's cookie (like a mobile app)."""
    from engine.testing import ApiClient

    class NoCookies(ApiClient):
        async def request(self, method, path, **kwargs):
            self.client.session.cookie_jar.clear()
            return await super().request(method, path, **kwargs)

    api.client_without_cookies = NoCookies(api.client)
    return api


async def test_a_signed_in_session_gets_an_access_and_a_refresh_token(api, oidc_provider):
    body = await tokens(api)
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert (await api.with_token(body["access_token"]).get("/api/me")).json["data"]["email"] == "ada@example.test"


async def test_token_responses_are_not_cached(api, oidc_provider):
    await sign_in(api)
    result = await api.anonymous.post("/auth/token", headers=await csrf(api))
    assert result.headers["Cache-Control"] == "no-store"


async def test_auth_token_without_a_session_is_401(api):
    assert (await api.anonymous.post("/auth/token")).status == 401


async def test_every_401_carries_a_challenge_as_http_requires(api):
    """RFC 9110: a 401 names an authentication scheme; here a route that raised its 401 without one."""
    refused = await api.anonymous.post("/auth/token")
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="api"'


async def test_auth_token_with_a_bearer_token_is_401(api):
    alice = await api.as_user("alice")
    assert (await alice.post("/auth/token")).status == 401


async def test_auth_token_by_cookie_needs_the_csrf_token(api, oidc_provider):
    await sign_in(api)
    assert (await api.anonymous.post("/auth/token")).status == 403


async def test_refresh_returns_a_new_pair_and_a_new_refresh_token(api, oidc_provider):
    first = await tokens(api)
    result = await refresh(api, first["refresh_token"])
    assert result.status == 200
    assert set(result.json) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert result.json["refresh_token"] != first["refresh_token"]
    assert (await api.with_token(result.json["access_token"]).get("/api/me")).status == 200


async def test_refresh_tokens_are_stored_only_as_sha256_hashes(api, oidc_provider):
    token = (await tokens(api))["refresh_token"]
    stored = [r["token_hash"] for r in await api.sql("select token_hash from _engine_refresh_tokens")]
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]


async def test_a_used_refresh_token_is_refused(api, oidc_provider):
    first = await tokens(api)
    await refresh(api, first["refresh_token"])
    result = await refresh(api, first["refresh_token"])
    assert result.status == 401
    assert "already used" in result.json["detail"]


async def test_reusing_a_refresh_token_revokes_its_whole_family(api, oidc_provider):
    first = await tokens(api)
    second = (await refresh(api, first["refresh_token"])).json
    await refresh(api, first["refresh_token"])  # the thief (or the victim) replays the old token
    assert (await refresh(api, second["refresh_token"])).status == 401


async def test_reuse_in_one_sign_in_leaves_other_sign_ins_alone(api, oidc_provider):
    laptop = await tokens(api)
    phone = await tokens(api)
    await refresh(api, laptop["refresh_token"])
    await refresh(api, laptop["refresh_token"])
    assert (await refresh(api, phone["refresh_token"])).status == 200


async def test_logout_revokes_the_refresh_tokens_family(api, oidc_provider):
    first = await tokens(api)
    second = (await refresh(api, first["refresh_token"])).json
    result = await api.client_without_cookies.post("/auth/logout", json={"refresh_token": second["refresh_token"]})
    assert result.status == 204
    assert (await refresh(api, second["refresh_token"])).status == 401


async def test_logout_with_an_unknown_refresh_token_is_still_204(api):
    result = await api.anonymous.post("/auth/logout", json={"refresh_token": "rt_never-issued"})
    assert result.status == 204


async def test_logout_without_a_session_needs_a_refresh_token(api):
    result = await api.anonymous.post("/auth/logout")
    assert result.status == 422
    assert result.json["errors"][0]["path"] == "/refresh_token"


async def test_an_unknown_refresh_token_is_401(api):
    result = await refresh(api, "rt_never-issued")
    assert result.status == 401
    assert result.json["error"] == "invalid_grant"


async def test_an_expired_refresh_token_is_401(api, oidc_provider):
    token = (await tokens(api))["refresh_token"]
    await api.sql("update _engine_refresh_tokens set expires_at = now() - interval '1 minute'")
    result = await refresh(api, token)
    assert result.status == 401
    assert "expired" in result.json["detail"]


async def test_refresh_without_a_refresh_token_is_422(api):
    result = await api.anonymous.post("/auth/refresh", json={"token": "x"})
    assert result.status == 422
    assert result.json["errors"][0]["path"] == "/refresh_token"


async def test_refresh_with_a_refresh_token_that_is_not_a_string_is_422(api):
    assert (await api.anonymous.post("/auth/refresh", json={"refresh_token": 42})).status == 422


class TestAServerThatOnlyVerifiesTokens:
    @pytest.fixture
    def engine_env(self, oidc_provider):
        from stand_in_oidc_provider import public_pem, rsa_key

        env = google_env(oidc_provider, ENGINE_JWT_PUBLIC_KEY=public_pem(rsa_key("access")))
        del env["ENGINE_JWT_SECRET"]
        return env

    async def test_auth_token_is_501_and_stores_no_refresh_token(self, api, oidc_provider):
        await sign_in(api)
        result = await api.anonymous.post("/auth/token", headers=await csrf(api))
        assert result.status == 501
        assert "ENGINE_JWT_SECRET" in result.json["detail"]
        assert await api.sql("select * from _engine_refresh_tokens") == []
