"""Rate limiting in one worker: a token bucket per caller, 429 with Retry-After, RateLimit headers."""

from __future__ import annotations

import os

import pytest

from engine.features.rate_limit.stats import RATE_LIMIT_STATS
from engine.kernel.errors import ConfigurationError

SPEC = os.path.join(os.path.dirname(__file__), "specs", "protection", "resources.yaml")


@pytest.fixture
def engine_spec_path() -> str:
    return SPEC


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_RATE_LIMIT": "3/hour"}


async def exhaust(client, path: str, times: int) -> None:
    for _ in range(times):
        result = await client.get(path)
        assert result.status == 200, result.text


async def test_every_response_carries_rate_limit_headers(api):
    alice = await api.as_user("alice")
    result = await alice.get("/api/notes")
    assert result.status == 200
    assert result.headers["RateLimit-Limit"] == "3"
    assert result.headers["RateLimit-Remaining"] == "2"
    assert int(result.headers["RateLimit-Reset"]) >= 1


async def test_error_responses_carry_rate_limit_headers_too(api, expect_problem):
    alice = await api.as_user("alice")
    result = await alice.get("/api/notes/not-a-row")
    expect_problem(result, 404)
    assert result.headers["RateLimit-Remaining"] == "2"


async def test_a_caller_past_the_limit_gets_429_with_retry_after(api, expect_problem):
    alice = await api.as_user("alice")
    await exhaust(alice, "/api/notes", 3)
    refused = await alice.get("/api/notes")
    body = expect_problem(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert "3/hour" in body["detail"]


async def test_each_signed_in_user_has_their_own_bucket(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    await exhaust(alice, "/api/notes", 3)
    assert (await alice.get("/api/notes")).status == 429
    assert (await bob.get("/api/notes")).status == 200


async def test_anonymous_callers_are_limited_by_address(api):
    await exhaust(api.anonymous, "/api/tags", 3)
    assert (await api.anonymous.get("/api/tags")).status == 429


async def test_refused_requests_are_not_served(api):
    admin = await api.as_admin()
    await exhaust(admin, "/api/tags", 3)
    refused = await admin.post("/api/tags", json={"name": "blocked"})
    assert refused.status == 429
    assert await api.sql("select * from tags") == []


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(api):
    for n in range(3):
        assert (await api.anonymous.get("/api/tags", headers={"X-Forwarded-For": f"203.0.113.{n}"})).status == 200
    assert (await api.anonymous.get("/api/tags", headers={"X-Forwarded-For": "203.0.113.99"})).status == 429


async def test_preflight_requests_take_no_token(api):
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
    for _ in range(5):
        assert (await api.anonymous.request("OPTIONS", "/api/tags", headers=preflight)).status == 200
    assert (await api.anonymous.get("/api/tags")).headers["RateLimit-Remaining"] == "2"


async def test_counters_count_allowed_and_limited_requests(api):
    await exhaust(api.anonymous, "/api/tags", 3)
    await api.anonymous.get("/api/tags")
    stats = api.app[RATE_LIMIT_STATS]
    assert (stats.allowed, stats.limited) == (3, 1)


class TestTrustedProxies:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_RATE_LIMIT": "1/hour", "ENGINE_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}

    async def test_forwarded_for_from_a_trusted_proxy_names_the_client(self, api):
        first = await api.anonymous.get("/api/tags", headers={"X-Forwarded-For": "203.0.113.1"})
        second = await api.anonymous.get("/api/tags", headers={"X-Forwarded-For": "203.0.113.2"})
        assert (first.status, second.status) == (200, 200)

    async def test_the_client_is_the_last_address_that_is_not_a_trusted_proxy(self, api):
        # A client cannot escape its bucket by prepending made-up addresses.
        first = await api.anonymous.get("/api/tags", headers={"X-Forwarded-For": "198.51.100.7, 10.1.2.3"})
        spoofed = await api.anonymous.get("/api/tags", headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.7, 10.1.2.3"})
        assert (first.status, spoofed.status) == (200, 429)


class TestResourceOverrides:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {key: value for key, value in engine_env.items() if key != "ENGINE_RATE_LIMIT"}

    async def test_settings_rate_limit_is_the_global_default(self, api):
        alice = await api.as_user("alice")
        assert (await alice.get("/api/notes")).headers["RateLimit-Limit"] == "50"

    async def test_a_per_action_override_has_its_own_bucket(self, api):
        alice = await api.as_user("alice")
        for title in ("one", "two"):
            assert (await alice.post("/api/notes", json={"title": title})).status == 201
        third = await alice.post("/api/notes", json={"title": "three"})
        assert third.status == 429 and third.headers["RateLimit-Limit"] == "2"
        assert (await alice.get("/api/notes")).status == 200

    async def test_a_resource_wide_override_covers_all_its_actions(self, api):
        created = await api.anonymous.post("/api/pings", json={"message": "hi"})
        assert created.status == 201 and created.headers["RateLimit-Limit"] == "3"
        await exhaust(api.anonymous, "/api/pings", 2)
        assert (await api.anonymous.get(created.headers["Location"])).status == 429
        assert (await api.anonymous.get("/api/tags")).status == 200


class TestSwitchedOff:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_RATE_LIMIT": "off"}

    async def test_off_disables_the_global_limit(self, api):
        result = await api.anonymous.get("/api/tags")
        assert "RateLimit-Limit" not in result.headers


async def test_a_malformed_rate_stops_the_server_at_start_up(engine_spec, engine_env):
    from engine.http.app import create_app
    from engine.kernel.config import Config

    config = Config.from_env(engine_spec, env={**engine_env, "ENGINE_RATE_LIMIT": "lots"})
    with pytest.raises(ConfigurationError, match="ENGINE_RATE_LIMIT must look like 100/minute"):
        create_app(engine_spec, config)


async def test_the_api_description_documents_429(api):
    listing = (await api.anonymous.get("/openapi.json")).json["paths"]["/api/notes"]["get"]
    assert "Retry-After" in listing["responses"]["429"]["headers"]
