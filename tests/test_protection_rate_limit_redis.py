"""Rate limits in Redis: one bucket per caller shared by every worker, and a Redis outage that fails
open or closed as configured, logged, never a 500."""

from __future__ import annotations

import logging
import os

import pytest
from protection_support import (  # noqa: F401
    private_redis_fixture,
    redis_prefix_fixture,
    redis_url_fixture,
    second_api_fixture,
)

from engine.features.rate_limit.stats import RATE_LIMIT_STATS

SPEC = os.path.join(os.path.dirname(__file__), "specs", "protection", "resources.yaml")


@pytest.fixture
def engine_spec_path() -> str:
    return SPEC


class TestSharedByWorkers:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str], redis_url: str, redis_prefix: str) -> dict[str, str]:
        return {
            **engine_env,
            "REDIS_URL": redis_url,
            "ENGINE_REDIS_PREFIX": redis_prefix,
            "ENGINE_RATE_LIMIT": "3/hour",
        }

    async def test_two_workers_take_from_one_bucket(self, api, second_api):
        alice_here, alice_there = await api.as_user("alice"), second_api.with_token(api.token("alice"))
        remaining = [
            (await alice_here.get("/api/notes")).headers["RateLimit-Remaining"],
            (await alice_there.get("/api/notes")).headers["RateLimit-Remaining"],
            (await alice_here.get("/api/notes")).headers["RateLimit-Remaining"],
        ]
        assert remaining == ["2", "1", "0"]
        assert (await alice_there.get("/api/notes")).status == 429

    async def test_other_callers_keep_their_own_bucket_across_workers(self, api, second_api):
        alice = await api.as_user("alice")
        for _ in range(3):
            await alice.get("/api/notes")
        bob_there = second_api.with_token(api.token("bob"))
        assert (await bob_there.get("/api/notes")).status == 200

    async def test_a_refusal_says_when_to_retry(self, api, expect_problem):
        alice = await api.as_user("alice")
        for _ in range(3):
            await alice.get("/api/notes")
        refused = await alice.get("/api/notes")
        expect_problem(refused, 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 1200


class TestRedisDownFailOpen:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str], private_redis) -> dict[str, str]:
        return {**engine_env, "REDIS_URL": private_redis.url, "ENGINE_RATE_LIMIT": "3/hour"}

    async def test_requests_pass_while_redis_is_down(self, api, private_redis):
        alice = await api.as_user("alice")
        assert (await alice.get("/api/notes")).headers["RateLimit-Remaining"] == "2"
        private_redis.stop()
        for _ in range(5):
            result = await alice.get("/api/notes")
            assert result.status == 200
            assert "RateLimit-Remaining" not in result.headers
        assert api.app[RATE_LIMIT_STATS].backend_errors == 5

    async def test_the_outage_is_logged(self, api, private_redis, caplog):
        alice = await api.as_user("alice")
        private_redis.stop()
        with caplog.at_level(logging.WARNING, logger="engine.rate_limit"):
            await alice.get("/api/notes")
        assert "rate limiter store unavailable, letting requests through" in caplog.text

    async def test_limits_apply_again_once_redis_is_back(self, api, private_redis):
        alice = await api.as_user("alice")
        assert (await alice.get("/api/notes")).status == 200
        private_redis.stop()
        assert (await alice.get("/api/notes")).status == 200  # let through, not counted
        private_redis.start()
        statuses = [(await alice.get("/api/notes")).status for _ in range(3)]
        assert statuses == [200, 200, 429]  # the bucket kept the token spent before the outage


class TestRedisDownFailClosed:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str], private_redis) -> dict[str, str]:
        return {
            **engine_env,
            "REDIS_URL": private_redis.url,
            "ENGINE_RATE_LIMIT": "3/hour",
            "ENGINE_RATE_LIMIT_FAIL": "closed",
        }

    async def test_requests_are_refused_with_503_while_redis_is_down(self, api, private_redis, expect_problem):
        alice = await api.as_user("alice")
        private_redis.stop()
        refused = await alice.get("/api/notes")
        expect_problem(refused, 503)
        assert refused.headers["Retry-After"] == "1"

    async def test_requests_pass_again_once_redis_is_back(self, api, private_redis):
        alice = await api.as_user("alice")
        private_redis.stop()
        assert (await alice.get("/api/notes")).status == 503
        private_redis.start()
        assert (await alice.get("/api/notes")).status == 200
