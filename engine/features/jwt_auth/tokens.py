"""Signing and verifying access tokens (JWT) with the algorithm fixed by configuration.

The token header never chooses the algorithm or the key: HS256 uses only the shared secret,
RS256/ES256 only the configured public key or JWKS, so `alg: none` and HS-signed-with-the-RS-
public-key tokens fail. Claim types are checked here, not left to the library's leniency.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from engine.features.jwt_auth.cache import DEFAULT_SIZE, VerifiedTokens
from engine.features.jwt_auth.decode import Failures, decode_or_refuse
from engine.features.jwt_auth.jwks import JwksCache, JwksError, UnknownKey
from engine.kernel import settings as registry
from engine.kernel.errors import ConfigurationError, ServiceUnavailable, Unauthorized
from engine.kernel.identity import Identity
from engine.kernel.interning import Interned

log = logging.getLogger("engine.auth")
MIN_SECRET_BYTES = 32
OPT_OUT = "off"
ASYMMETRIC = ("RS256", "ES256")
INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
ACCESS_TOKEN_FAILURES: Failures = {
    jwt.ExpiredSignatureError: "the access token has expired",
    jwt.ImmatureSignatureError: "the access token is not valid yet",
    jwt.InvalidAudienceError: "the access token is for another audience",
    jwt.InvalidIssuerError: "the access token is from another issuer",
    jwt.InvalidSignatureError: "the access token signature is invalid",
}


def invalid(detail: str) -> Unauthorized:
    """A 401 whose challenge tells OAuth clients to get a new token rather than retry this one."""
    return Unauthorized(detail, headers=dict(INVALID_TOKEN))


@dataclass
class JwtSettings:
    secret: bytes | None = None
    public_key: Any = None  # a loaded key object for RS256/ES256
    public_algorithm: str | None = None
    key_id: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway: int = 30
    access_ttl: int = 900
    max_ttl: int | None = None  # ENGINE_JWT_MAX_TTL: tokens meant to live longer are refused
    jwks: JwksCache | None = field(default=None, repr=False)

    @property
    def algorithms(self) -> tuple[str, ...]:
        found = ("HS256",) if self.secret else ()
        if self.public_key is not None or self.jwks_url:
            found += (self.public_algorithm or "RS256",)
        return found

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, development: bool, secret_file: str) -> JwtSettings:
        """From the raw ENGINE_* variables in `env` (engine.features.jwt_auth.settings declares them)."""

        def read(name: str) -> Any:
            return registry.value(name, env)

        secret = read("ENGINE_JWT_SECRET")
        public_key = None
        algorithm = read("ENGINE_JWT_ALGORITHM")
        pem = read("ENGINE_JWT_PUBLIC_KEY")
        if pem:
            if not pem.lstrip().startswith("-----BEGIN") and os.path.isfile(pem):
                with open(pem, encoding="utf-8") as fh:
                    pem = fh.read()
            try:
                public_key = jwt.algorithms.get_default_algorithms()[algorithm].prepare_key(pem)
            except Exception as exc:
                raise ConfigurationError(
                    f"ENGINE_JWT_PUBLIC_KEY is not a valid {algorithm} public key: {exc}"
                ) from None
        jwks_url = read("ENGINE_JWT_JWKS_URL")
        if secret is None and public_key is None and jwks_url is None:
            secret = fallback_secret(
                secret_file,
                development=development,
                missing="no way to verify tokens: set ENGINE_JWT_SECRET (32+ bytes), ENGINE_JWT_PUBLIC_KEY "
                "or ENGINE_JWT_JWKS_URL",
            )
        check_secret_length("ENGINE_JWT_SECRET", secret, user="HS256")
        max_ttl = read("ENGINE_JWT_MAX_TTL")
        ttl = read("ENGINE_ACCESS_TOKEN_TTL")
        if max_ttl is not None and ttl > max_ttl:
            raise ConfigurationError(
                f"ENGINE_ACCESS_TOKEN_TTL ({ttl}s) exceeds ENGINE_JWT_MAX_TTL ({max_ttl}s): this server would "
                "issue tokens it refuses"
            )
        issuer = required_claim(env, "ENGINE_JWT_ISSUER", "issuer (iss)", production=not development)
        audience = required_claim(env, "ENGINE_JWT_AUDIENCE", "audience (aud)", production=not development)
        settings = cls(
            secret=secret.encode() if secret else None,
            public_key=public_key,
            public_algorithm=algorithm if algorithm in ASYMMETRIC else None,
            key_id=read("ENGINE_JWT_KID"),
            jwks_url=jwks_url,
            issuer=issuer,
            audience=audience,
            leeway=read("ENGINE_JWT_LEEWAY"),
            access_ttl=ttl,
            max_ttl=max_ttl,
        )
        if jwks_url:
            settings.jwks = JwksCache(jwks_url)
        return settings


def required_claim(env: Mapping[str, str], name: str, what: str, *, production: bool) -> str | None:
    """The configured iss/aud value. Production requires one, so a token minted for another service
    with the same key is not accepted here; `off` accepts any, and says so in the log."""
    value = registry.value(name, env)
    if value is not None and value.strip().lower() == OPT_OUT:
        log.warning("%s=off: access tokens with any %s are accepted", name, what)
        return None
    if value is None and production:
        raise ConfigurationError(
            f"{name} is required in production: set the {what} your access tokens carry, "
            f"or {name}=off to accept any (logged at start-up)"
        )
    return value


def check_secret_length(variable: str, secret: str | None, *, user: str) -> None:
    """Refuse a short secret at start-up: a short HMAC or encryption key can be guessed offline."""
    if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"{variable} is {len(secret.encode())} bytes; {user} needs at least {MIN_SECRET_BYTES} "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )


def fallback_secret(secret_file: str, *, development: bool, missing: str) -> str:
    """The on-disk development secret when nothing is configured, or `missing` as a ConfigurationError
    outside development, where nobody should sign or encrypt with a secret they never chose."""
    if not development:
        raise ConfigurationError(missing)
    return development_secret(secret_file)


def development_secret(path: str, generate: Callable[[], str] = lambda: secrets.token_urlsafe(48)) -> str:
    """A per-project secret kept on disk, so `serve` and `token` agree without configuration.

    Written to a temporary file and linked into place, so workers starting together agree on
    one secret and never read a half-written file.
    """
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(generate())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process was first: use its secret
        finally:
            os.unlink(temporary)
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip()


def issue(
    settings: JwtSettings, subject: str, roles: list[str] | tuple[str, ...] = (), ttl: int | None = None, **claims: Any
) -> str:
    """An HS256 access token carrying the configured issuer and audience, so this server's own checks accept it."""
    if settings.secret is None:
        raise ConfigurationError("issuing tokens needs ENGINE_JWT_SECRET (this server only verifies RS/ES tokens)")
    now = int(time.time())
    payload = {"sub": subject, "iat": now, "exp": now + (ttl or settings.access_ttl), **claims}
    if roles:
        payload["roles"] = list(roles)
    if settings.issuer:
        payload["iss"] = settings.issuer
    if settings.audience:
        payload["aud"] = settings.audience
    headers = {"kid": settings.key_id} if settings.key_id else None
    return jwt.encode(payload, settings.secret, algorithm="HS256", headers=headers)


# The role sets tokens carry: a handful per deployment, one frozenset each instead of one per token
# the verified-token cache keeps (thousands).
_role_sets = Interned(1024)


def _check_claim_types(claims: dict[str, Any]) -> None:
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise invalid(f"the '{name}' claim must be a number")
    if "exp" not in claims:
        raise invalid("the token has no 'exp' claim")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise invalid("the 'sub' claim must be a non-empty string")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise invalid("the 'roles' claim must be a list of strings")
    aud = claims.get("aud")
    if aud is not None and not (
        isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    ):
        raise invalid("the 'aud' claim must be a string or a list of strings")


def _check_lifetime(claims: dict[str, Any], max_ttl: int) -> None:
    """Refuse a token whose issuer gave it a longer life than ENGINE_JWT_MAX_TTL allows."""
    if "iat" not in claims:
        raise invalid("the token has no 'iat' claim, so its lifetime cannot be checked against ENGINE_JWT_MAX_TTL")
    if claims["exp"] - claims["iat"] > max_ttl:
        raise invalid(f"the access token's lifetime exceeds the {max_ttl}s this server accepts (ENGINE_JWT_MAX_TTL)")


class Verifier:
    """Verifies tokens and remembers good ones until they expire (engine.features.jwt_auth.cache)."""

    def __init__(self, settings: JwtSettings, cache_size: int = DEFAULT_SIZE, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.verified = VerifiedTokens(settings.leeway, cache_size, clock)

    async def verify(self, token: str) -> Identity:
        if not token.isascii():  # a JWT is base64url and dots; the header's other bytes arrive as surrogates
            raise invalid("the access token is malformed")
        jwks = self.settings.jwks
        generation = 0 if jwks is None else await jwks.current_generation()  # only a JWKS withdraws keys
        key = self.verified.key(token)
        identity = self.verified.get(key, generation)
        if identity is None:
            identity, expires = self._verify(token, await self._key(token))
            self.verified.put(key, identity, expires, generation)
        return identity

    async def _key(self, token: str) -> tuple[Any, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise invalid("the access token is malformed") from None
        algorithm = header.get("alg")
        if algorithm not in self.settings.algorithms:
            raise invalid(f"tokens signed with {str(algorithm)[:20]!r} are not accepted here")
        kid = header.get("kid")
        if algorithm == "HS256":
            if kid is not None and kid != self.settings.key_id:
                raise invalid("unknown key id (kid)")
            return self.settings.secret, algorithm
        if self.settings.jwks is not None:
            try:
                return await self.settings.jwks.key(kid, algorithm), algorithm
            except UnknownKey as exc:
                raise invalid(str(exc)) from None
            except JwksError:
                raise ServiceUnavailable(
                    "the keys that verify access tokens cannot be fetched right now; retry shortly",
                    headers={"Retry-After": "5"},
                ) from None
        if kid is not None and kid != self.settings.key_id:
            raise invalid("unknown key id (kid)")
        return self.settings.public_key, algorithm

    def _verify(self, token: str, key_and_algorithm: tuple[Any, str]) -> tuple[Identity, float]:
        key, algorithm = key_and_algorithm
        s = self.settings
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise invalid("the access token is malformed") from None
        _check_claim_types(unverified)
        claims = decode_or_refuse(
            token,
            key,
            refuse=invalid,
            failures=ACCESS_TOKEN_FAILURES,
            otherwise="the access token is invalid: {error}",
            what="the access token",
            algorithms=[algorithm],
            audience=s.audience,
            issuer=s.issuer,
            leeway=s.leeway,
            options={"require": ["exp", "sub"], "verify_aud": s.audience is not None},
        )
        if self.verified.clock() >= claims["exp"] + s.leeway:  # the cache's clock: one bound for hits and misses
            raise invalid(ACCESS_TOKEN_FAILURES[jwt.ExpiredSignatureError])
        if s.max_ttl is not None:
            _check_lifetime(claims, s.max_ttl)
        roles = frozenset(claims.get("roles") or ()) | {"user"}
        roles = _role_sets(roles, roles)
        return Identity(claims["sub"], roles, via="token"), float(claims["exp"])
