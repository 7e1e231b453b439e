"""RS256/ES256 access tokens from a configured public key or a JWKS URL, and start-up checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

import jwt
import orjson
import pytest
from stand_in_oidc_provider import ec_key, oidc_provider_fixture, public_jwk, public_pem, rsa_key  # noqa: F401

from engine.cli.main import main
from engine.features.jwt_auth.plugin import JWT
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError


def claims(**changes):
    now = int(time.time())
    return {"sub": "alice", "iat": now, "exp": now + 600, **changes}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_key_material(payload: dict, key: bytes) -> str:
    """An HS256 token whose HMAC key is the server's public key PEM (algorithm confusion)."""
    signing_input = f"{b64(orjson.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{b64(orjson.dumps(payload))}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


async def get_agents(api, token):
    return await api.with_token(token).get("/api/agents")


class TestRs256PublicKey:
    @pytest.fixture
    def engine_env(self):
        return {"ENGINE_JWT_PUBLIC_KEY": public_pem(rsa_key("access")), "ENGINE_JWT_ALGORITHM": "RS256"}

    async def test_an_rs256_token_signed_by_the_key_is_accepted(self, api):
        result = await get_agents(api, jwt.encode(claims(), rsa_key("access"), algorithm="RS256"))
        assert result.status == 200

    async def test_an_hs256_token_signed_with_the_public_key_is_401(self, api):
        token = hs256_with_key_material(claims(roles=["admin"]), public_pem(rsa_key("access")).encode())
        result = await get_agents(api, token)
        assert result.status == 401
        assert result.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'

    async def test_an_rs256_token_signed_by_another_key_is_401(self, api):
        result = await get_agents(api, jwt.encode(claims(), rsa_key("intruder"), algorithm="RS256"))
        assert result.status == 401
        assert "signature" in result.json["detail"]


class TestEs256PublicKey:
    @pytest.fixture
    def engine_env(self):
        return {"ENGINE_JWT_PUBLIC_KEY": public_pem(ec_key("access")), "ENGINE_JWT_ALGORITHM": "ES256"}

    async def test_an_es256_token_signed_by_the_key_is_accepted(self, api):
        result = await get_agents(api, jwt.encode(claims(), ec_key("access"), algorithm="ES256"))
        assert result.status == 200

    async def test_an_rs256_token_is_401_where_es256_is_configured(self, api):
        result = await get_agents(api, jwt.encode(claims(), rsa_key("access"), algorithm="RS256"))
        assert result.status == 401


class TestJwksUrl:
    @pytest.fixture
    def engine_env(self, oidc_provider):
        return {"ENGINE_JWT_JWKS_URL": f"{oidc_provider.issuer}/jwks"}

    @staticmethod
    def token(oidc_provider, **changes):
        return jwt.encode(claims(**changes), oidc_provider.key, algorithm="RS256", headers={"kid": oidc_provider.kid})

    async def test_a_token_signed_by_a_published_key_is_accepted(self, api, oidc_provider):
        assert (await get_agents(api, self.token(oidc_provider))).status == 200

    async def test_the_key_set_is_fetched_once_for_many_tokens(self, api, oidc_provider):
        for i in range(3):
            assert (await get_agents(api, self.token(oidc_provider, jti=str(i)))).status == 200
        assert oidc_provider.jwks_requests == 1

    async def test_a_token_with_an_unpublished_kid_is_401(self, api, oidc_provider):
        token = jwt.encode(claims(), oidc_provider.key, algorithm="RS256", headers={"kid": "not-published"})
        result = await get_agents(api, token)
        assert result.status == 401
        assert result.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'

    async def test_a_token_without_kid_is_401(self, api, oidc_provider):
        result = await get_agents(api, jwt.encode(claims(), oidc_provider.key, algorithm="RS256"))
        assert result.status == 401

    async def test_a_newly_published_key_is_picked_up(self, api, oidc_provider):
        assert (await get_agents(api, self.token(oidc_provider))).status == 200
        api.app[JWT].settings.jwks.min_refresh = 0  # the provider rotated: let the unknown kid refetch now
        oidc_provider.extra_jwks.append(public_jwk(rsa_key("rotated"), "stand-in-key-2"))
        token = jwt.encode(claims(), rsa_key("rotated"), algorithm="RS256", headers={"kid": "stand-in-key-2"})
        assert (await get_agents(api, token)).status == 200

    async def test_an_hs256_token_is_401_where_only_jwks_is_configured(self, api, oidc_provider):
        token = jwt.encode(claims(), "x" * 64, algorithm="HS256", headers={"kid": oidc_provider.kid})
        assert (await get_agents(api, token)).status == 401


class TestUnreachableJwks:
    @pytest.fixture
    def engine_env(self, oidc_provider):
        return {"ENGINE_JWT_JWKS_URL": f"{oidc_provider.issuer}/no-such-key-set"}

    async def test_tokens_cannot_be_checked_so_the_answer_is_503(self, api, oidc_provider):
        token = jwt.encode(claims(), oidc_provider.key, algorithm="RS256", headers={"kid": oidc_provider.kid})
        result = await get_agents(api, token)
        assert result.status == 503
        assert result.headers["Retry-After"]


def test_a_short_hmac_secret_stops_the_app_from_being_built(engine_spec):
    config = Config.from_env(engine_spec, env={"ENGINE_JWT_SECRET": "too-short"})
    with pytest.raises(ConfigurationError, match="at least 32"):
        create_app(engine_spec, config)


def test_production_without_a_way_to_verify_tokens_is_a_start_up_error(engine_spec):
    config = Config.from_env(engine_spec, env={"ENGINE_ENV": "production", "ENGINE_SESSION_SECRET": "s" * 40})
    with pytest.raises(ConfigurationError, match="ENGINE_JWT_SECRET"):
        create_app(engine_spec, config)


def test_serve_prints_the_configuration_error_and_exits_1(monkeypatch, capsys):
    monkeypatch.setenv("ENGINE_JWT_SECRET", "too-short")
    assert main(["--spec", os.path.abspath("resources.yaml"), "serve"]) == 1
    printed = capsys.readouterr()
    assert "ENGINE_JWT_SECRET is 9 bytes" in printed.err + printed.out
    assert "Traceback" not in printed.err + printed.out
