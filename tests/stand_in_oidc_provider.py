"""A real OpenID Connect provider for tests: an aiohttp app on localhost standing in for Google.

It serves discovery, authorize (answers at once as the configured user), token (checks the
client secret, the redirect URI and PKCE; each code works once) and JWKS, and signs ID tokens
with an RSA key generated for the test run. Knobs on the instance produce the attacks:
`id_token_claims` overrides or (with None) removes ID-token claims, `sign_with_foreign_key`
signs with a key the JWKS does not publish under that kid.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from functools import cache
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from engine.testing import TEST_FIELD_KEYS, TEST_JWT_SECRET

CLIENT_ID = "engine-test-client.apps.example.test"
CLIENT_SECRET = "stand-in-client-secret"


@cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """One RSA key per name for the whole test run (generating keys is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_key(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(private_key: Any) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def public_jwk(private_key: Any, kid: str, algorithm: str = "RS256") -> dict[str, Any]:
    algorithm_class = jwt.algorithms.RSAAlgorithm if algorithm == "RS256" else jwt.algorithms.ECAlgorithm
    jwk = algorithm_class.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": algorithm}


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class StandInProvider:
    def __init__(self) -> None:
        self.issuer = ""  # set once the server listens
        self.kid = "stand-in-key-1"
        self.key = rsa_key("provider")
        self.user: dict[str, Any] = {
            "sub": "google-1001",
            "email": "ada@example.test",
            "email_verified": True,
            "name": "Ada Lovelace",
        }
        self.id_token_claims: dict[str, Any] = {}
        self.sign_with_foreign_key = False
        self.codes: dict[str, dict[str, Any]] = {}
        self.jwks_requests = 0
        self.extra_jwks: list[dict[str, Any]] = []

    # --- the endpoints ---------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        app.router.add_get("/jwks", self.jwks)
        return app

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
            return web.json_response({"error": "invalid_request"}, status=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "nonce": q["nonce"],
            "challenge": q["code_challenge"],
            "redirect_uri": q["redirect_uri"],
            "used": False,
        }
        location = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
        return web.Response(status=302, headers={"Location": location})

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = self.codes.get(str(form.get("code")))
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        if grant is None or grant["used"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return web.json_response({"error": "invalid_grant"}, status=400)
        grant["used"] = True
        if _s256(str(form.get("code_verifier", ""))) != grant["challenge"]:
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response(
            {"access_token": "stand-in", "token_type": "Bearer", "id_token": self.id_token(grant["nonce"])}
        )

    async def jwks(self, request: web.Request) -> web.Response:
        self.jwks_requests += 1
        return web.json_response({"keys": [public_jwk(self.key, self.kid), *self.extra_jwks]})

    # --- signing ---------------------------------------------------------------------------

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce, **self.user}
        for name, value in self.id_token_claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = rsa_key("foreign") if self.sign_with_foreign_key else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(name="oidc_provider")
async def oidc_provider_fixture(aiohttp_server: Any) -> StandInProvider:
    """The stand-in provider, listening on localhost (import this fixture into a test module)."""
    provider = StandInProvider()
    server = await aiohttp_server(provider.app())
    provider.issuer = str(server.make_url("")).rstrip("/")
    return provider


def google_env(provider: StandInProvider, **extra: str) -> dict[str, str]:
    """Engine settings that point Google sign-in at the stand-in provider."""
    return {
        "ENGINE_ENV": "development",
        "ENGINE_JWT_SECRET": TEST_JWT_SECRET,
        "ENGINE_FIELD_KEYS": TEST_FIELD_KEYS,
        "ENGINE_GOOGLE_CLIENT_ID": CLIENT_ID,
        "ENGINE_GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "ENGINE_GOOGLE_DISCOVERY_URL": f"{provider.issuer}/.well-known/openid-configuration",
        "ENGINE_LOGIN_REDIRECT": "/signed-in",
        **extra,
    }


async def visit_provider(url: str) -> str:
    """The browser's visit to the provider's authorize page; returns where it redirects to."""
    async with aiohttp.ClientSession() as browser, browser.get(url, allow_redirects=False) as response:
        assert response.status == 302, await response.text()
        return response.headers["Location"]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def sign_in(api: Any) -> Any:
    """Walk the whole sign-in as a browser: login -> provider -> callback. Returns the callback's Result."""
    login = await api.anonymous.get("/auth/google/login", allow_redirects=False)
    assert login.status == 302, login.text
    callback_url = await visit_provider(login.headers["Location"])
    return await api.anonymous.get(path_of(callback_url), allow_redirects=False)
