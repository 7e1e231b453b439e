"""OpenID Connect sign-in (authorization code + PKCE) against a provider found by discovery.

The provider's endpoints come from its discovery document; its ID tokens are verified against
its JWKS (signature, iss, aud, exp, nonce) before anyone is signed in. HTTP goes through one
aiohttp client session, so nothing here blocks the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import jwt
from yarl import URL

from engine.features.jwt_auth.decode import Failures, decode_or_refuse
from engine.features.jwt_auth.jwks import KEY_TYPES, JwksCache, JwksError, UnknownKey
from engine.kernel import settings as registry
from engine.kernel.errors import ConfigurationError, Problem

SCOPES = "openid email profile"
PENDING_TTL = 600  # seconds a browser has to come back from the provider
DISCOVERY_TTL = 3600
ID_TOKEN_LEEWAY = 60
ID_TOKEN_FAILURES: Failures = {
    jwt.ExpiredSignatureError: "the ID token has expired",
    jwt.InvalidAudienceError: "the ID token was issued to another client (aud)",
    jwt.InvalidIssuerError: "the ID token comes from another issuer",
    jwt.InvalidSignatureError: "the ID token's signature is invalid",
}


class SignInRefused(Problem):
    status = 400
    title = "Sign-in Refused"
    slug = "sign-in-refused"


class HostNotAllowed(Problem):
    status = 400
    title = "Bad Request"
    slug = "host-not-allowed"


class ProviderUnavailable(Problem):
    status = 502
    title = "Bad Gateway"
    slug = "provider-unavailable"


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class OidcSettings:
    client_id: str
    client_secret: str
    discovery_url: str
    redirect_uri: str | None  # None (development only): /auth/google/callback on the request's allowed host
    login_redirect: str
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, production: bool = False) -> OidcSettings | None:
        """None when Google sign-in is not configured (no client id); engine.features.google_oauth.settings
        declares the variables. In production the redirect URI must be configured: derived from the
        Host header, it would be whatever the client sends."""

        def read(name: str) -> Any:
            return registry.value(name, env)

        client_id = read("ENGINE_GOOGLE_CLIENT_ID")
        client_secret = read("ENGINE_GOOGLE_CLIENT_SECRET")
        if client_id is None and client_secret is None:
            return None
        if client_id is None or client_secret is None:
            raise ConfigurationError(
                "Google sign-in needs both ENGINE_GOOGLE_CLIENT_ID and ENGINE_GOOGLE_CLIENT_SECRET"
            )
        redirect_uri = read("ENGINE_GOOGLE_REDIRECT_URI")
        if redirect_uri is None and production:
            raise ConfigurationError(
                "Google sign-in in production needs ENGINE_GOOGLE_REDIRECT_URI "
                "(e.g. https://api.example.com/auth/google/callback): it is never taken from the Host header"
            )
        if redirect_uri is not None and urlsplit(redirect_uri).scheme not in ("http", "https"):
            raise ConfigurationError(
                f"ENGINE_GOOGLE_REDIRECT_URI must be an absolute http(s) URL, got {redirect_uri!r}"
            )
        hosts = read("ENGINE_GOOGLE_ALLOWED_HOSTS")
        return cls(
            client_id=client_id,
            client_secret=client_secret,
            discovery_url=read("ENGINE_GOOGLE_DISCOVERY_URL"),
            redirect_uri=redirect_uri,
            login_redirect=read("ENGINE_LOGIN_REDIRECT"),
            allowed_hosts=LOOPBACK_HOSTS if hosts is None else tuple(_host(h) for h in hosts),
        )

    def callback_url(self, scheme: str, host_header: str) -> str:
        """Where the provider sends the browser back: the configured URI, else (development) this
        server's callback on the request's host, which must be an allowed host."""
        if self.redirect_uri is not None:
            return self.redirect_uri
        try:
            url = URL.build(scheme=scheme, authority=host_header, path="/auth/google/callback")
        except (ValueError, TypeError):
            url = None
        if url is None or url.user is not None or _host(url.host or "") not in self.allowed_hosts:
            raise HostNotAllowed(
                "the request's Host is not one of ENGINE_GOOGLE_ALLOWED_HOSTS; add it there, or set "
                "ENGINE_GOOGLE_REDIRECT_URI"
            )
        return str(url)


def _host(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]

    @classmethod
    def from_discovery(cls, document: Any, url: str) -> Provider:
        names = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(document, dict) or not all(isinstance(document.get(n), str) for n in names):
            raise ProviderUnavailable(f"the discovery document at {url} lacks one of: {', '.join(names)}")
        offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in offered if a in KEY_TYPES)
        if not algorithms:
            raise ProviderUnavailable(f"the provider at {url} signs ID tokens with no algorithm we accept")
        return cls(*(document[n] for n in names), algorithms=algorithms)

    @property
    def issuers(self) -> tuple[str, ...]:
        # Google's ID tokens carry either form of its issuer (documented by Google).
        if self.issuer == "https://accounts.google.com":
            return (self.issuer, "accounts.google.com")
        return (self.issuer,)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class PendingSignIn:
    """What a sign-in in progress keeps in the browser's session: state, nonce, PKCE verifier."""

    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    started: float

    @classmethod
    def new(cls, redirect_uri: str) -> PendingSignIn:
        return cls(
            secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64), redirect_uri, time.time()
        )

    @classmethod
    def from_session(cls, value: Any) -> PendingSignIn | None:
        try:
            pending = cls(**value)
        except TypeError:
            return None
        return pending if time.time() - pending.started < PENDING_TTL else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def challenge(self) -> str:
        return _b64(hashlib.sha256(self.verifier.encode()).digest())


def _same(a: Any, b: str) -> bool:
    return isinstance(a, str) and hmac.compare_digest(a.encode(), b.encode())


def _error_code(body: Any) -> str:
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) and re.fullmatch(r"[a-z_]{1,64}", code) else "no error code"


class OidcClient:
    def __init__(self, settings: OidcSettings, timeout: float = 10):
        self.settings = settings
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None
        self._provider: tuple[Provider, float] | None = None
        self._jwks: JwksCache | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._jwks is not None:
            await self._jwks.close()

    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        return self._http

    async def provider(self) -> Provider:
        """The discovery document, fetched on first use and again after an hour."""
        if self._provider is not None and time.monotonic() - self._provider[1] < DISCOVERY_TTL:
            return self._provider[0]
        url = self.settings.discovery_url
        try:
            async with self.http().get(url, headers={"Accept": "application/json"}) as response:
                if response.status != 200:
                    raise ProviderUnavailable(f"OpenID discovery at {url} answered {response.status}")
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderUnavailable(f"OpenID discovery at {url} failed: {type(exc).__name__}") from None
        provider = Provider.from_discovery(document, url)
        if self._jwks is None or self._jwks.url != provider.jwks_uri:
            self._jwks = JwksCache(provider.jwks_uri)
        self._provider = (provider, time.monotonic())
        return provider

    def authorization_url(self, provider: Provider, pending: PendingSignIn) -> str:
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": pending.redirect_uri,
            "scope": SCOPES,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": pending.challenge,
            "code_challenge_method": "S256",
        }
        separator = "&" if "?" in provider.authorization_endpoint else "?"
        return provider.authorization_endpoint + separator + urlencode(query)

    def check_callback(self, pending: PendingSignIn | None, query: Any) -> tuple[PendingSignIn, str]:
        """The sign-in and authorization code of a callback that belongs to `pending`; refuses anything else."""
        if pending is None:
            raise SignInRefused("no sign-in is in progress in this browser session; start at /auth/google/login")
        if "error" in query:
            raise SignInRefused(f"the provider did not sign you in: {_error_code(dict(query))}")
        if not _same(query.get("state"), pending.state):
            raise SignInRefused("the state parameter does not match this sign-in (a forged or stale callback)")
        code = query.get("code")
        if not code:
            raise SignInRefused("the callback carries no authorization code")
        return pending, code

    async def exchange(self, provider: Provider, code: str, pending: PendingSignIn) -> str:
        """Trade the authorization code (with the PKCE verifier) for the ID token."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
            "code_verifier": pending.verifier,
        }
        try:
            async with self.http().post(provider.token_endpoint, data=form) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderUnavailable(f"the provider's token endpoint failed: {type(exc).__name__}") from None
        if status in (400, 401):
            raise SignInRefused(f"the provider refused the authorization code ({_error_code(body)})")
        if status != 200:
            raise ProviderUnavailable(f"the provider's token endpoint answered {status}")
        id_token = body.get("id_token") if isinstance(body, dict) else None
        if not isinstance(id_token, str):
            raise SignInRefused("the provider returned no ID token")
        return id_token

    async def verify_id_token(self, provider: Provider, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once signature, iss, aud, exp and nonce all check out."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError:
            raise SignInRefused("the ID token is malformed") from None
        algorithm = header.get("alg")
        if algorithm not in provider.algorithms:
            raise SignInRefused("the ID token is signed with an algorithm the provider does not announce")
        if self._jwks is None:  # provider() normally set it
            self._jwks = JwksCache(provider.jwks_uri)
        try:
            key = await self._jwks.key(header.get("kid"), algorithm)
        except UnknownKey:
            raise SignInRefused("the ID token is signed with a key the provider does not publish") from None
        except JwksError as exc:
            raise ProviderUnavailable(str(exc)) from None
        claims = self._decode(id_token, key, algorithm, provider)
        if not isinstance(claims.get("nonce"), str):
            raise SignInRefused("the ID token has no nonce")
        if not _same(claims["nonce"], nonce):
            raise SignInRefused("the ID token's nonce does not belong to this sign-in (a replayed token)")
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.settings.client_id:
            raise SignInRefused("the ID token was issued to another client (azp)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise SignInRefused("the ID token has no subject")
        return claims

    def _decode(self, id_token: str, key: Any, algorithm: str, provider: Provider) -> dict[str, Any]:
        return decode_or_refuse(
            id_token,
            key,
            refuse=SignInRefused,
            failures=ID_TOKEN_FAILURES,
            otherwise="the ID token is invalid ({error})",
            what="the ID token",
            algorithms=[algorithm],
            audience=self.settings.client_id,
            issuer=provider.issuers,
            leeway=ID_TOKEN_LEEWAY,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
