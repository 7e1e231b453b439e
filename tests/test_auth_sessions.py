"""Browser sessions: signed in by cookie, guarded by a CSRF token on unsafe methods, ended by logout.

Sessions are encrypted cookies by default and live in Redis when REDIS_URL is set (those tests
need a real Redis and skip, saying so, without REDIS_URL).
"""

from __future__ import annotations

import os

import pytest
from stand_in_oidc_provider import google_env, oidc_provider_fixture, sign_in  # noqa: F401

from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.kernel.hooks import hookimpl
from engine.testing import PRODUCTION_TOKEN_CLAIMS


@pytest.fixture
def engine_env(oidc_provider):
    return google_env(oidc_provider)


async def csrf_token(api):
    result = await api.anonymous.get("/auth/csrf")
    assert result.status == 200
    return result.json["csrf_token"]


async def agent_count(api):
    return (await api.sql("select count(*) as n from agents"))[0]["n"]


async def test_a_cookie_post_without_the_csrf_token_is_403(api, oidc_provider):
    await sign_in(api)
    result = await api.anonymous.post("/api/agents", json={"name": "Helper"})
    assert result.status == 403
    assert "X-CSRF-Token" in result.json["detail"]
    assert await agent_count(api) == 0


async def test_a_cookie_post_with_a_wrong_csrf_token_is_403(api, oidc_provider):
    await sign_in(api)
    result = await api.anonymous.post("/api/agents", json={"name": "Helper"}, headers={"X-CSRF-Token": "guess"})
    assert result.status == 403


async def test_a_cookie_delete_without_the_csrf_token_is_403(api, oidc_provider):
    await sign_in(api)
    token = await csrf_token(api)
    created = await api.anonymous.post("/api/agents", json={"name": "Helper"}, headers={"X-CSRF-Token": token})
    result = await api.anonymous.delete(created.headers["Location"])
    assert result.status == 403
    assert await agent_count(api) == 1


async def test_the_csrf_token_lets_a_cookie_post_through_as_the_signed_in_user(api, oidc_provider):
    await sign_in(api)
    token = await csrf_token(api)
    result = await api.anonymous.post("/api/agents", json={"name": "Helper"}, headers={"X-CSRF-Token": token})
    assert result.status == 201
    me = await api.anonymous.get("/api/me")
    assert result.json["data"]["user_id"] == me.json["data"]["id"]


async def test_safe_methods_need_no_csrf_token(api, oidc_provider):
    await sign_in(api)
    assert (await api.anonymous.get("/api/agents")).status == 200


async def test_a_bearer_request_needs_no_csrf_token_and_wins_over_the_cookie(api, oidc_provider):
    await sign_in(api)
    bob = await api.as_user("bob")
    result = await bob.post("/api/agents", json={"name": "Bob's"})
    assert result.status == 201
    assert result.json["data"]["user_id"] == "bob"


async def test_signing_in_gives_a_new_csrf_token(api, oidc_provider):
    before = await csrf_token(api)
    await sign_in(api)
    assert await csrf_token(api) != before


async def test_a_tampered_session_cookie_is_anonymous(api, oidc_provider):
    result = await sign_in(api)
    name, _, value = result.headers["Set-Cookie"].split(";")[0].partition("=")
    api.client.session.cookie_jar.clear()
    tampered = f"{name}={value[:-6]}AAAAAA"
    assert (await api.anonymous.get("/api/me", headers={"Cookie": tampered})).status == 401


async def test_logout_ends_the_session(api, oidc_provider):
    await sign_in(api)
    result = await api.anonymous.post("/auth/logout", headers={"X-CSRF-Token": await csrf_token(api)})
    assert result.status == 204
    assert "engine_session=;" in result.headers["Set-Cookie"] or 'engine_session="";' in result.headers["Set-Cookie"]
    assert (await api.anonymous.get("/api/me")).status == 401


async def test_logout_by_cookie_needs_the_csrf_token(api, oidc_provider):
    await sign_in(api)
    assert (await api.anonymous.post("/auth/logout")).status == 403
    assert (await api.anonymous.get("/api/me")).status == 200


class RecordIdentity:
    def __init__(self):
        self.seen = []

    @hookimpl
    def authorize(self, identity):
        self.seen.append(identity)


class TestSessionIdentityGoesThroughTheAuthenticateHook:
    @pytest.fixture
    def recorder(self):
        return RecordIdentity()

    @pytest.fixture
    def engine_plugins(self, recorder):
        return [recorder]

    async def test_other_plugins_see_a_session_identity(self, api, oidc_provider, recorder):
        await sign_in(api)
        await api.anonymous.get("/api/agents")
        assert recorder.seen[-1].via == "session"


class TestProduction:
    @pytest.fixture
    def engine_env(self, oidc_provider):
        return google_env(
            oidc_provider,
            **PRODUCTION_TOKEN_CLAIMS,
            ENGINE_ENV="production",
            ENGINE_SESSION_SECRET="s" * 48,
            ENGINE_GOOGLE_REDIRECT_URI="https://app.example.test/auth/google/callback",
        )

    async def test_the_session_cookie_is_secure(self, api):
        result = await api.anonymous.get("/auth/csrf")
        assert "Secure" in result.headers["Set-Cookie"]


def test_a_short_session_secret_is_a_start_up_error(engine_spec):
    env = {"ENGINE_JWT_SECRET": "j" * 48, "ENGINE_SESSION_SECRET": "short"}
    with pytest.raises(ConfigurationError, match="ENGINE_SESSION_SECRET"):
        create_app(engine_spec, Config.from_env(engine_spec, env=env))


def test_production_without_a_session_secret_or_redis_is_a_start_up_error(engine_spec):
    env = {"ENGINE_ENV": "production", "ENGINE_JWT_SECRET": "j" * 48, **PRODUCTION_TOKEN_CLAIMS}
    with pytest.raises(ConfigurationError, match="ENGINE_SESSION_SECRET"):
        create_app(engine_spec, Config.from_env(engine_spec, env=env))


REDIS_URL = os.environ.get("REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set REDIS_URL to test Redis-backed sessions")


@needs_redis
class TestRedisSessions:
    @pytest.fixture
    def engine_env(self, oidc_provider):
        return google_env(oidc_provider, REDIS_URL=REDIS_URL, ENGINE_SESSION_MAX_AGE="300")

    @pytest.fixture
    async def redis(self):
        from redis import asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        yield client
        await client.aclose()

    @staticmethod
    def session_id(result):
        return result.headers["Set-Cookie"].split(";")[0].partition("=")[2]

    async def test_a_signed_in_session_lives_in_redis(self, api, oidc_provider, redis):
        session_id = self.session_id(await sign_in(api))
        assert await redis.exists(f"engine_session_{session_id}") == 1
        assert (await api.anonymous.get("/api/me")).status == 200

    async def test_signing_in_deletes_the_session_from_before(self, api, oidc_provider, redis):
        before = self.session_id(await api.anonymous.get("/auth/csrf"))
        after = self.session_id(await sign_in(api))
        assert before != after
        assert await redis.exists(f"engine_session_{before}") == 0

    async def test_logout_deletes_the_session_from_redis(self, api, oidc_provider, redis):
        session_id = self.session_id(await sign_in(api))
        csrf = await csrf_token(api)
        assert (await api.anonymous.post("/auth/logout", headers={"X-CSRF-Token": csrf})).status == 204
        assert await redis.exists(f"engine_session_{session_id}") == 0
        assert (await api.anonymous.get("/api/me")).status == 401


class TestUnreachableRedis:
    @pytest.fixture
    def engine_env(self, oidc_provider):
        return google_env(oidc_provider, REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1

    async def test_a_session_request_is_503_not_500(self, api):
        result = await api.anonymous.get("/auth/csrf")
        assert result.status == 503
        assert result.headers["Retry-After"] == "1"

    async def test_a_session_cookie_is_503_not_500(self, api):
        result = await api.anonymous.get("/api/agents", headers={"Cookie": "engine_session=some-session-id"})
        assert result.status == 503

    async def test_bearer_requests_do_not_need_the_session_store(self, api):
        alice = api.with_token(api.token("alice"))
        assert (await alice.get("/api/agents")).status == 200
