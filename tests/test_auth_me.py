"""GET /api/me: the signed-in caller's own users row, by any credential; 401 when anonymous."""

from __future__ import annotations


async def test_me_is_the_callers_own_row(api):
    alice = await api.as_user("alice", name="Alice")
    await api.as_user("bob")
    result = await alice.get("/api/me")
    assert result.status == 200
    assert result.json["data"]["id"] == "alice"
    assert result.json["data"]["name"] == "Alice"


async def test_me_is_401_for_an_anonymous_caller(api):
    result = await api.anonymous.get("/api/me")
    assert result.status == 401
    assert result.headers["WWW-Authenticate"].startswith("Bearer")


async def test_me_is_404_when_the_token_speaks_for_a_user_without_a_row(api):
    result = await api.with_token(api.token("ghost")).get("/api/me")
    assert result.status == 404


async def test_me_with_a_bad_token_is_401_invalid_token(api):
    result = await api.with_token("garbage-token").get("/api/me")
    assert result.status == 401
    assert result.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


async def test_me_with_an_unknown_parameter_is_400_naming_it(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.get("/api/me?fields=id"), 400)
    assert problem["parameter"] == "fields"
