"""The attack catalogue against Bearer JWT (HS256 with issuer and audience configured).

Every bad token is a 401 with `WWW-Authenticate: Bearer error="invalid_token"` and a detail
that never echoes the token.
"""

from __future__ import annotations

import base64
import time

import jwt
import orjson
import pytest

from engine.testing import TEST_JWT_SECRET

ISSUER = "https://auth.example.test"
AUDIENCE = "resource-engine-tests"
OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256-0123456789"


@pytest.fixture
def engine_env():
    return {
        "ENGINE_ENV": "development",
        "ENGINE_JWT_SECRET": TEST_JWT_SECRET,
        "ENGINE_JWT_ISSUER": ISSUER,
        "ENGINE_JWT_AUDIENCE": AUDIENCE,
    }


def claims(**changes):
    now = int(time.time())
    base = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload, key=TEST_JWT_SECRET, algorithm="HS256", headers=None):
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def assert_invalid_token(api, token):
    result = await api.with_token(token).get("/api/agents")
    assert result.status == 401
    assert result.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert result.json["type"].endswith("/unauthorized")
    assert token not in result.text
    for part in token.split("."):
        if len(part) > 8:
            assert part not in result.text
    return result


async def test_a_valid_token_is_accepted(api):
    await api.as_user("alice")
    result = await api.with_token(sign(claims())).get("/api/agents")
    assert result.status == 200


async def test_a_request_without_a_token_is_401_with_a_bearer_challenge(api):
    result = await api.anonymous.get("/api/agents")
    assert result.status == 401
    assert result.headers["WWW-Authenticate"].startswith("Bearer")


async def test_token_without_exp_is_401(api):
    result = await assert_invalid_token(api, sign(claims(exp=None)))
    assert "exp" in result.json["detail"]


async def test_garbage_token_is_401(api):
    await assert_invalid_token(api, "this-is-not-a-jwt-at-all")


async def test_garbage_in_three_parts_is_401(api):
    await assert_invalid_token(api, "aaaaaaaaaa.bbbbbbbbbb.cccccccccc")


async def test_expired_token_is_401(api):
    result = await assert_invalid_token(api, sign(claims(exp=int(time.time()) - 3600)))
    assert "expired" in result.json["detail"]


async def test_not_yet_valid_token_is_401(api):
    result = await assert_invalid_token(api, sign(claims(nbf=int(time.time()) + 3600)))
    assert "not valid yet" in result.json["detail"]


async def test_token_with_wrong_signature_is_401(api):
    result = await assert_invalid_token(api, sign(claims(), key=OTHER_SECRET))
    assert "signature" in result.json["detail"]


async def test_alg_none_token_is_401(api):
    header = b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    token = f"{header}.{b64(orjson.dumps(claims()))}."
    await assert_invalid_token(api, token)


async def test_token_for_another_audience_is_401(api):
    result = await assert_invalid_token(api, sign(claims(aud="another-service")))
    assert "audience" in result.json["detail"]


async def test_token_without_audience_is_401_when_one_is_configured(api):
    result = await assert_invalid_token(api, sign(claims(aud=None)))
    assert result.json["detail"] == "the access token has no 'aud' claim"


async def test_token_without_issuer_is_401_naming_the_claim(api):
    result = await assert_invalid_token(api, sign(claims(iss=None)))
    assert result.json["detail"] == "the access token has no 'iss' claim"


async def test_token_from_another_issuer_is_401(api):
    result = await assert_invalid_token(api, sign(claims(iss="https://evil.example.test")))
    assert "issuer" in result.json["detail"]


async def test_tampered_payload_is_401(api):
    header, _, signature = sign(claims(sub="bob")).split(".")
    forged = f"{header}.{b64(orjson.dumps(claims(sub='admin', roles=['admin'])))}.{signature}"
    await assert_invalid_token(api, forged)


async def test_string_exp_is_401(api):
    result = await assert_invalid_token(api, sign(claims(exp=str(int(time.time()) + 600))))
    assert "'exp'" in result.json["detail"]


async def test_string_nbf_is_401(api):
    await assert_invalid_token(api, sign(claims(nbf="0")))


async def test_roles_that_are_not_a_list_of_strings_are_401(api):
    await assert_invalid_token(api, sign(claims(roles="admin")))


async def test_unknown_kid_is_401(api):
    result = await assert_invalid_token(api, sign(claims(), headers={"kid": "who-knows"}))
    assert "kid" in result.json["detail"]


async def test_empty_bearer_token_is_401(api):
    result = await api.anonymous.get("/api/agents", headers={"Authorization": "Bearer "})
    assert result.status == 401
    assert result.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


async def test_a_token_without_roles_is_an_ordinary_user(api):
    await api.as_user("alice")
    token = sign(claims())
    assert (await api.with_token(token).get("/api/agents")).status == 200
    assert (await api.with_token(token).delete("/api/users/alice")).status == 403  # delete: [admin]


async def test_a_token_with_the_user_role_is_an_ordinary_user(api):
    await api.as_user("alice")
    assert (await api.with_token(sign(claims(roles=["user"]))).delete("/api/users/alice")).status == 403


async def test_expired_token_within_the_leeway_is_accepted(api):
    await api.as_user("alice")
    result = await api.with_token(sign(claims(exp=int(time.time()) - 5))).get("/api/agents")
    assert result.status == 200
