"""The verified-token cache: a token is verified once per process, yet an expired, altered or forged
token, a deleted user's token and a token signed by a withdrawn key are refused as without it."""

from __future__ import annotations

import base64
import time

import jwt
import orjson
import pytest
from stand_in_oidc_provider import oidc_provider_fixture, public_jwk, rsa_key  # noqa: F401

from engine.features.jwt_auth.cache import VerifiedTokens
from engine.features.jwt_auth.plugin import JWT
from engine.features.jwt_auth.tokens import JwtSettings, Verifier, issue
from engine.kernel.errors import Unauthorized
from engine.kernel.identity import Identity

SECRET = b"s" * 48
LEEWAY = 30


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(clock: Clock) -> Verifier:
    return Verifier(JwtSettings(secret=SECRET, leeway=LEEWAY), cache_size=100, clock=clock)


def token(sub: str = "alice", ttl: int = 600, **claims) -> str:
    return issue(JwtSettings(secret=SECRET), sub, ttl=ttl, **claims)


def with_payload(signed: str, **changes) -> str:
    """The same header and signature around a payload changed in `changes`."""
    header, payload, signature = signed.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed = base64.urlsafe_b64encode(orjson.dumps({**claims, **changes})).rstrip(b"=").decode()
    return f"{header}.{changed}.{signature}"


async def test_a_token_is_verified_once_and_then_served_from_the_cache(verifier):
    good = token()
    first = await verifier.verify(good)
    assert await verifier.verify(good) is first
    assert len(verifier.verified) == 1


async def test_cached_identities_share_their_role_sets(verifier):
    """The cache keeps an identity per token (thousands): tokens with the same roles share one set."""
    first = await verifier.verify(token("alice", roles=("editor",)))
    second = await verifier.verify(token("bob", roles=("editor",)))
    assert first.roles == frozenset({"editor", "user"}) and first.roles is second.roles
    assert (await verifier.verify(token("carol"))).roles == frozenset({"user"})


async def test_a_cached_token_is_served_until_exp_plus_leeway(verifier, clock):
    good = token(ttl=600)
    identity = await verifier.verify(good)
    clock.now = jwt.decode(good, SECRET, algorithms=["HS256"])["exp"] + LEEWAY - 1
    assert await verifier.verify(good) is identity


async def test_a_cached_token_is_refused_at_exp_plus_leeway(verifier, clock):
    good = token(ttl=600)
    await verifier.verify(good)
    clock.now = jwt.decode(good, SECRET, algorithms=["HS256"])["exp"] + LEEWAY
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(good)


async def test_a_token_with_an_altered_signature_never_hits(verifier):
    good = token()
    await verifier.verify(good)
    last = good[-1]
    altered = good[:-1] + ("A" if last != "A" else "B")
    with pytest.raises(Unauthorized):
        await verifier.verify(altered)


async def test_a_token_with_altered_claims_and_the_old_signature_never_hits(verifier):
    good = token()
    await verifier.verify(good)
    with pytest.raises(Unauthorized, match="signature"):
        await verifier.verify(with_payload(good, roles=["admin"]))


async def test_a_forged_token_with_the_same_claims_never_hits(verifier):
    good = token()
    await verifier.verify(good)
    claims = jwt.decode(good, SECRET, algorithms=["HS256"])
    forged = jwt.encode(claims, b"f" * 48, algorithm="HS256")
    with pytest.raises(Unauthorized, match="signature"):
        await verifier.verify(forged)


async def test_a_refused_token_is_not_cached(verifier):
    with pytest.raises(Unauthorized):
        await verifier.verify(token(ttl=-3600))
    assert len(verifier.verified) == 0


def test_the_cache_is_bounded_least_recently_used_out_first(clock):
    cache = VerifiedTokens(LEEWAY, size=2, clock=clock)
    keys = [cache.key(f"t{i}") for i in range(3)]
    for key in keys[:2]:
        cache.put(key, Identity(key.hex(), frozenset({"user"})), clock() + 600, 0)
    assert cache.get(keys[0], 0) is not None  # now the most recently used
    cache.put(keys[2], Identity("c", frozenset({"user"})), clock() + 600, 0)
    assert len(cache) == 2
    assert cache.get(keys[1], 0) is None
    assert cache.get(keys[0], 0) is not None


def test_the_cache_keeps_a_digest_not_the_token(clock):
    cache = VerifiedTokens(LEEWAY, clock=clock)
    secret_token = token()
    cache.put(cache.key(secret_token), Identity("alice", frozenset({"user"})), clock() + 600, 0)
    assert secret_token not in cache._entries
    assert all(len(key) == 32 for key in cache._entries)


async def test_a_deleted_users_cached_token_is_401(api):
    alice = await api.as_user("alice")
    assert (await alice.get("/api/agents")).status == 200  # verified and cached
    admin = await api.as_admin()
    assert (await admin.delete("/api/users/alice")).status == 204
    assert (await alice.get("/api/agents")).status == 401


class TestWithdrawnJwksKey:
    @pytest.fixture
    def engine_env(self, oidc_provider):
        return {"ENGINE_JWT_JWKS_URL": f"{oidc_provider.issuer}/jwks"}

    async def test_a_token_signed_by_a_withdrawn_key_is_refused_after_the_next_key_refresh(self, api, oidc_provider):
        rotating = rsa_key("rotating")
        oidc_provider.extra_jwks.append(public_jwk(rotating, "rotating-key"))
        now = int(time.time())
        signed = jwt.encode(
            {"sub": "alice", "iat": now, "exp": now + 600}, rotating, algorithm="RS256", headers={"kid": "rotating-key"}
        )
        client = api.with_token(signed)
        assert (await client.get("/api/agents")).status == 200  # verified and cached
        oidc_provider.extra_jwks.clear()  # the provider withdraws the key
        jwks = api.app[JWT].settings.jwks
        jwks.lifespan = 0
        jwks._fetched_at -= 5  # older than the one-second guard between refreshes
        assert (await client.get("/api/agents")).status == 401
