"""Google sign-in never sends the provider a redirect URI taken from a Host header it does not trust."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from stand_in_oidc_provider import google_env, oidc_provider_fixture  # noqa: F401

from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.testing import PRODUCTION_TOKEN_CLAIMS, TEST_SESSION_SECRET

CONFIGURED = "https://app.example.test/auth/google/callback"


@pytest.fixture
def engine_env(oidc_provider):
    return google_env(oidc_provider)


async def redirect_uri(api, host):
    result = await api.anonymous.get("/auth/google/login", headers={"Host": host}, allow_redirects=False)
    assert result.status == 302, result.text
    return parse_qs(urlsplit(result.headers["Location"]).query)["redirect_uri"][0]


def production_env(**extra):
    return {
        "ENGINE_ENV": "production",
        "ENGINE_JWT_SECRET": "j" * 48,
        "ENGINE_SESSION_SECRET": TEST_SESSION_SECRET,
        "ENGINE_GOOGLE_CLIENT_ID": "client",
        "ENGINE_GOOGLE_CLIENT_SECRET": "secret",
        **PRODUCTION_TOKEN_CLAIMS,
        **extra,
    }


def test_production_without_a_configured_redirect_uri_is_a_start_up_error(engine_spec):
    with pytest.raises(ConfigurationError, match="ENGINE_GOOGLE_REDIRECT_URI"):
        create_app(engine_spec, Config.from_env(engine_spec, env=production_env()))


def test_a_redirect_uri_that_is_not_an_absolute_url_is_a_start_up_error(engine_spec):
    env = production_env(ENGINE_GOOGLE_REDIRECT_URI="/auth/google/callback")
    with pytest.raises(ConfigurationError, match="ENGINE_GOOGLE_REDIRECT_URI must be a URL starting with https:"):
        create_app(engine_spec, Config.from_env(engine_spec, env=env))


async def test_development_refuses_a_host_that_is_not_allowed(api, oidc_provider):
    result = await api.anonymous.get("/auth/google/login", headers={"Host": "evil.example"}, allow_redirects=False)
    assert result.status == 400
    assert result.json["type"].endswith("/host-not-allowed")
    assert "ENGINE_GOOGLE_ALLOWED_HOSTS" in result.json["detail"]


@pytest.mark.parametrize(
    "host", ["localhost:99999", "localhost:abc", "localhost@evil.example", "evil.example#localhost", "evil.example/x"]
)
async def test_a_malformed_or_disguised_host_is_400(api, oidc_provider, host):
    result = await api.anonymous.get("/auth/google/login", headers={"Host": host}, allow_redirects=False)
    assert result.status == 400, result.text


async def test_development_uses_a_loopback_host_by_default(api, oidc_provider):
    assert await redirect_uri(api, "localhost:8000") == "http://localhost:8000/auth/google/callback"


class TestAllowedHosts:
    @pytest.fixture
    def engine_env(self, oidc_provider):
        return google_env(oidc_provider, ENGINE_GOOGLE_ALLOWED_HOSTS="dev.example.test")

    async def test_a_listed_host_is_used(self, api, oidc_provider):
        assert await redirect_uri(api, "dev.example.test:8000") == "http://dev.example.test:8000/auth/google/callback"

    async def test_the_list_replaces_the_loopback_default(self, api, oidc_provider):
        result = await api.anonymous.get("/auth/google/login", headers={"Host": "localhost"}, allow_redirects=False)
        assert result.status == 400


class TestProduction:
    @pytest.fixture
    def engine_env(self, oidc_provider):
        return google_env(
            oidc_provider,
            **PRODUCTION_TOKEN_CLAIMS,
            ENGINE_ENV="production",
            ENGINE_SESSION_SECRET=TEST_SESSION_SECRET,
            ENGINE_GOOGLE_REDIRECT_URI=CONFIGURED,
        )

    async def test_the_configured_redirect_uri_is_sent_whatever_the_host(self, api, oidc_provider):
        assert await redirect_uri(api, "evil.example") == CONFIGURED
