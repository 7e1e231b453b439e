"""Property: hostile headers, cookies and token claims are a 4xx problem or a normal answer, never a 500.

Random values go into the headers the engine reads (Authorization, Cookie, X-Request-ID,
X-Forwarded-For, conditional and idempotency headers, Origin ...), into the session cookie, and
into the claims of validly signed tokens (`sub` and `roles` with NUL characters, lone surrogates,
unicode, huge strings). Whatever the engine answers is below 500, and every error is problem+json.
A signed token whose claims the database cannot store (NUL, lone surrogates) is a 401.
"""

from __future__ import annotations

import jwt
import pytest
from hypothesis import strategies as st
from load.bridge import check_property

from engine.testing import TEST_JWT_SECRET

ROUTES = ("/api/agents", "/api/teams", "/api/events", "/api/events?limit=1", "/api/me")
READ_HEADERS = (
    "Authorization",
    "Cookie",
    "X-Request-ID",
    "X-Forwarded-For",
    "If-None-Match",
    "If-Match",
    "Idempotency-Key",
    "Accept",
    "Accept-Encoding",
    "Content-Type",
    "Origin",
    "X-CSRF-Token",
    "Last-Event-ID",
    "Access-Control-Request-Method",
)
# What a client can put in a header value: visible ASCII, spaces, and bytes above 0x7f.
HEADER_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)
CLAIM_TEXT = st.one_of(
    st.text(max_size=40),  # includes NUL, lone surrogates, any unicode
    st.sampled_from(["alice\x00", "\x00", "\ud800", "a\udfffb", "admin\x00", "é" * 300, "x" * 5000]),
)


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_AUTH_FAILURE_LIMIT": "off"}  # every refused token must stay a 401


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def sign(claims: dict) -> str:
    return jwt.encode({"exp": 4_000_000_000, **claims}, TEST_JWT_SECRET, algorithm="HS256")


def assert_clean(result, context) -> None:
    assert result.status < 500, (context, result.status, result.text)
    if result.status >= 400:
        assert result.headers["Content-Type"].startswith("application/problem+json"), (context, result.text)


async def test_signed_tokens_with_hostile_claims_are_200_or_401_never_500(api):
    async def check(example: tuple[str, list[str], str]) -> None:
        sub, roles, route = example
        client = api.with_token(sign({"sub": sub, "roles": roles}))
        result = await client.get(route)
        assert_clean(result, example)
        if result.status == 431:  # the token made the Authorization header longer than the limit
            return
        if not sub or not storable(sub) or not all(storable(role) for role in roles):
            assert result.status == 401, (example, result.status, result.text)

    examples = await check_property(
        st.tuples(CLAIM_TEXT, st.lists(CLAIM_TEXT, max_size=3), st.sampled_from(ROUTES)), check
    )
    print(f"{examples} hostile tokens")


async def test_a_signed_token_whose_sub_holds_a_nul_is_401_on_teams_and_events(api, expect_problem):
    client = api.with_token(sign({"sub": "alice\x00"}))
    for route in ("/api/teams", "/api/events", "/api/events/stream"):
        expect_problem(await client.get(route), 401)


async def test_hostile_values_in_the_headers_the_engine_reads_are_never_a_500(api):
    alice = await api.as_user("alice")

    async def check(example: tuple[str, str, str]) -> None:
        name, value, route = example
        result = await api.anonymous.get(route, headers={**alice.headers, name: value})
        assert_clean(result, example)

    examples = await check_property(
        st.tuples(st.sampled_from(READ_HEADERS), HEADER_VALUE, st.sampled_from(ROUTES)), check
    )
    print(f"{examples} hostile headers")


async def test_hostile_session_cookies_are_anonymous_or_refused_never_a_500(api):
    cookie_value = st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=';,"\\'), max_size=200
    )

    async def check(example: tuple[str, str, str]) -> None:
        value, route, method = example
        result = await api.anonymous.request(method, route, headers={"Cookie": f"engine_session={value}"})
        assert_clean(result, example)

    strategy = st.tuples(cookie_value, st.sampled_from(ROUTES), st.sampled_from(["GET", "POST", "DELETE"]))
    examples = await check_property(strategy, check)
    print(f"{examples} hostile cookies")
