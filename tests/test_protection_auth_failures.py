"""Failed authentication is rate limited per client (ENGINE_AUTH_FAILURE_LIMIT): 401s drain a bucket,
then 429 with Retry-After and the RateLimit headers, refused before the credentials are checked."""

from __future__ import annotations

import os

import pytest
from protection_support import redis_prefix_fixture, redis_url_fixture, second_api_fixture  # noqa: F401

from engine.features.rate_limit.auth_failures import AUTH_FAILURES
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError

SPEC = os.path.join(os.path.dirname(__file__), "specs", "protection", "resources.yaml")
BAD = {"Authorization": "Bearer not-a-token"}


@pytest.fixture
def engine_spec_path() -> str:
    return SPEC


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_AUTH_FAILURE_LIMIT": "3/hour"}


async def fail(api, times: int) -> list:
    return [await api.anonymous.get("/api/notes", headers=BAD) for _ in range(times)]


async def test_each_refused_credential_takes_one_from_the_clients_bucket(api, expect_problem):
    results = await fail(api, 3)

    for result in results:
        expect_problem(result, 401)
    assert [r.headers["RateLimit-Remaining"] for r in results] == ["2", "1", "0"]


async def test_past_the_limit_a_bad_credential_is_429_with_retry_after_and_rate_limit_headers(api, expect_problem):
    await fail(api, 3)

    refused = await api.anonymous.get("/api/notes", headers=BAD)

    assert "3/hour" in expect_problem(refused, 429)["detail"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Limit"] == "3" and refused.headers["RateLimit-Remaining"] == "0"


async def test_past_the_limit_even_a_good_credential_is_refused_before_it_is_checked(api, expect_problem):
    alice = await api.as_user("alice")
    await fail(api, 4)

    expect_problem(await alice.get("/api/notes"), 429)


async def test_requests_without_credentials_are_not_held_up(api):
    await fail(api, 4)

    assert (await api.anonymous.get("/api/tags")).status == 200


async def test_good_credentials_do_not_count(api):
    alice = await api.as_user("alice")
    for _ in range(5):
        assert (await alice.get("/api/notes")).status == 200

    assert (await api.anonymous.get("/api/notes", headers=BAD)).headers["RateLimit-Remaining"] == "2"


async def test_a_signed_token_the_database_cannot_store_counts_as_a_failure(api):
    result = await api.with_token(api.token("alice\x00")).get("/api/notes")

    assert result.status == 401 and result.headers["RateLimit-Remaining"] == "2"


class TestOff:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_AUTH_FAILURE_LIMIT": "off"}

    async def test_off_disables_the_limit(self, api):
        assert {r.status for r in await fail(api, 6)} == {401}
        assert AUTH_FAILURES not in api.app


class TestDefault:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in engine_env.items() if k != "ENGINE_AUTH_FAILURE_LIMIT"}

    async def test_the_default_is_30_per_minute(self, api):
        assert api.app[AUTH_FAILURES].rate.text == "30/minute"


def test_a_malformed_limit_stops_start_up(engine_spec):
    config = Config.from_env(engine_spec, env={"ENGINE_AUTH_FAILURE_LIMIT": "lots"})
    with pytest.raises(ConfigurationError, match="ENGINE_AUTH_FAILURE_LIMIT"):
        create_app(engine_spec, config)


class TestSharedInRedis:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str], redis_url: str, redis_prefix: str) -> dict[str, str]:
        return {**engine_env, "REDIS_URL": redis_url, "ENGINE_REDIS_PREFIX": redis_prefix}

    async def test_failures_in_one_worker_count_in_another(self, api, second_api, expect_problem):
        await fail(api, 3)

        expect_problem(await second_api.anonymous.get("/api/notes", headers=BAD), 429)
