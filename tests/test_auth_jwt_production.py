"""Production binds access tokens to this service (issuer and audience) and bounds their lifetime."""

from __future__ import annotations

import logging
import time

import jwt
import pytest

from engine.features.jwt_auth.tokens import JwtSettings
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.testing import PRODUCTION_TOKEN_CLAIMS, TEST_JWT_SECRET, TEST_SESSION_SECRET


def settings(**env):
    return JwtSettings.from_env({"ENGINE_JWT_SECRET": TEST_JWT_SECRET, **env}, development=False, secret_file="")


def test_production_without_an_audience_is_a_start_up_error(engine_spec):
    env = {
        "ENGINE_ENV": "production",
        "ENGINE_JWT_SECRET": TEST_JWT_SECRET,
        "ENGINE_SESSION_SECRET": TEST_SESSION_SECRET,
    }
    env["ENGINE_JWT_ISSUER"] = PRODUCTION_TOKEN_CLAIMS["ENGINE_JWT_ISSUER"]
    with pytest.raises(ConfigurationError, match="ENGINE_JWT_AUDIENCE is required in production"):
        create_app(engine_spec, Config.from_env(engine_spec, env=env))


def test_production_without_an_issuer_is_a_start_up_error():
    with pytest.raises(ConfigurationError, match="ENGINE_JWT_ISSUER is required in production"):
        settings(ENGINE_JWT_AUDIENCE="engine-tests")


def test_off_opts_out_of_the_issuer_check_and_says_so_in_the_log(caplog):
    with caplog.at_level(logging.WARNING, logger="engine.auth"):
        configured = settings(ENGINE_JWT_ISSUER="off", ENGINE_JWT_AUDIENCE="engine-tests")
    assert configured.issuer is None
    assert "ENGINE_JWT_ISSUER=off" in caplog.text


def test_development_needs_neither():
    configured = JwtSettings.from_env({"ENGINE_JWT_SECRET": TEST_JWT_SECRET}, development=True, secret_file="")
    assert configured.issuer is None and configured.audience is None


def test_an_access_token_ttl_above_the_max_ttl_is_a_start_up_error():
    with pytest.raises(ConfigurationError, match="ENGINE_JWT_MAX_TTL"):
        settings(**PRODUCTION_TOKEN_CLAIMS, ENGINE_ACCESS_TOKEN_TTL="2h", ENGINE_JWT_MAX_TTL="1h")


def test_a_max_ttl_that_is_not_a_duration_is_a_start_up_error():
    with pytest.raises(ConfigurationError, match="ENGINE_JWT_MAX_TTL must be seconds or a number"):
        settings(**PRODUCTION_TOKEN_CLAIMS, ENGINE_JWT_MAX_TTL="forever")


def signed(lifetime, *, iat=True):
    now = int(time.time())
    claims = {"sub": "alice", "exp": now + lifetime}
    if iat:
        claims["iat"] = now
    return jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")


class TestMaxTtl:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_JWT_MAX_TTL": "1h"}

    async def test_a_token_living_longer_than_the_max_ttl_is_401(self, api):
        result = await api.with_token(signed(7200)).get("/api/agents")
        assert result.status == 401
        assert "ENGINE_JWT_MAX_TTL" in result.json["detail"]

    async def test_a_token_within_the_max_ttl_is_accepted(self, api):
        assert (await api.with_token(signed(3600)).get("/api/agents")).status == 200

    async def test_a_token_without_iat_is_401_because_its_lifetime_is_unknown(self, api):
        result = await api.with_token(signed(600, iat=False)).get("/api/agents")
        assert result.status == 401
        assert "'iat'" in result.json["detail"]


class TestProduction:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, **PRODUCTION_TOKEN_CLAIMS, "ENGINE_ENV": "production"}

    async def test_a_token_for_another_audience_is_401(self, api):
        now = int(time.time())
        claims = {"sub": "alice", "iat": now, "exp": now + 60, "aud": "another-service"}
        token = jwt.encode({**claims, "iss": PRODUCTION_TOKEN_CLAIMS["ENGINE_JWT_ISSUER"]}, TEST_JWT_SECRET)
        assert (await api.with_token(token).get("/api/agents")).status == 401

    async def test_a_token_with_this_issuer_and_audience_is_accepted(self, api):
        assert (await api.with_token(api.token("alice")).get("/api/agents")).status == 200
