"""The query cache in Redis: one store and one data generation for every worker, so a write in one
worker is seen by the next read in any other; a Redis outage bypasses the cache, never serves
stale data and never fails a request."""

from __future__ import annotations

import os

import pytest
from protection_support import (  # noqa: F401
    cache_notices,
    private_redis_fixture,
    redis_prefix_fixture,
    redis_url_fixture,
    second_api_fixture,
)

from engine.features.query_cache.listener import CHANNEL
from engine.features.query_cache.plugin import LISTENER
from engine.features.query_cache.stats import CACHE_STATS

SPEC = os.path.join(os.path.dirname(__file__), "specs", "protection", "resources.yaml")


@pytest.fixture
def engine_spec_path() -> str:
    return SPEC


async def a_tag(api, *workers, name: str = "urgent") -> str:
    """A tag, created through the API; returns once every worker applied the write's notice, so the
    counters below count only what each test does."""
    created = await (await api.as_admin()).post("/api/tags", json={"name": name})
    assert created.status == 201, created.text
    for worker in (api, *workers):
        await worker.app[LISTENER].settle()
    return created.headers["Location"]


class TestSharedByWorkers:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str], redis_url: str, redis_prefix: str) -> dict[str, str]:
        return {**engine_env, "REDIS_URL": redis_url, "ENGINE_REDIS_PREFIX": redis_prefix, "ENGINE_RATE_LIMIT": "off"}

    async def test_an_answer_cached_by_one_worker_is_served_by_another(self, api, second_api):
        location = await a_tag(api, second_api)
        await api.anonymous.get(location)
        await api.sql("update tags set name = 'changed behind the engine'")
        assert (await second_api.anonymous.get(location)).json["data"]["name"] == "urgent"
        assert second_api.app[CACHE_STATS].hits == 1

    async def test_a_write_in_one_worker_is_seen_by_the_next_read_in_another(self, api, second_api):
        location = await a_tag(api, second_api)
        await api.anonymous.get(location)
        await second_api.anonymous.get(location)
        renamed = await (await second_api.as_admin()).patch(location, json={"name": "renamed"})
        assert renamed.status == 200
        assert (await api.anonymous.get(location)).json["data"]["name"] == "renamed"

    async def test_a_writes_notice_heard_after_an_answer_was_cached_keeps_it(self, api, second_api):
        """The writer moved the shared generation at its commit; a worker that hears of the same
        write later (busy, or on another host) must not move it again and orphan the fresh answer."""
        async with cache_notices(api) as notices:
            location = await a_tag(api)
        await api.anonymous.get(location)
        (notice,) = [n for n in notices if ":tags:" in n]
        await api.sql(f"select pg_notify('{CHANNEL}', $1)", notice)  # the same write, heard late
        await second_api.app[LISTENER].settle()
        await second_api.anonymous.get(location)
        assert second_api.app[CACHE_STATS].hits == 1

    async def test_lists_follow_writes_across_workers(self, api, second_api):
        alice_here, alice_there = await api.as_user("alice"), second_api.with_token(api.token("alice"))
        assert (await alice_here.get("/api/notes")).json["data"] == []
        await alice_there.post("/api/notes", json={"title": "from worker 2"})
        assert [n["title"] for n in (await alice_here.get("/api/notes")).json["data"]] == ["from worker 2"]


class TestRedisDown:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str], private_redis) -> dict[str, str]:
        return {**engine_env, "REDIS_URL": private_redis.url, "ENGINE_RATE_LIMIT": "off"}

    async def test_reads_bypass_the_cache_and_stay_correct(self, api, private_redis):
        location = await a_tag(api)
        await api.anonymous.get(location)
        private_redis.stop()
        await api.sql("update tags set name = 'changed behind the engine'")
        result = await api.anonymous.get(location)
        assert result.status == 200 and result.json["data"]["name"] == "changed behind the engine"
        assert api.app[CACHE_STATS].errors >= 1

    async def test_writes_succeed_while_redis_is_down(self, api, private_redis):
        location = await a_tag(api)
        private_redis.stop()
        assert (await (await api.as_admin()).patch(location, json={"name": "renamed"})).status == 200

    async def test_a_write_made_during_the_outage_is_not_hidden_by_old_entries(self, api, second_api, private_redis):
        location = await a_tag(api, second_api)
        await api.anonymous.get(location)  # cached in Redis, which keeps it through the restart
        private_redis.stop()
        assert (await (await second_api.as_admin()).patch(location, json={"name": "renamed"})).status == 200
        await api.app[LISTENER].settle()  # this worker heard of the write while Redis was down
        private_redis.start()
        assert (await api.anonymous.get(location)).json["data"]["name"] == "renamed"
        assert (await second_api.anonymous.get(location)).json["data"]["name"] == "renamed"

    async def test_the_cache_serves_again_once_redis_is_back(self, api, private_redis):
        location = await a_tag(api)
        private_redis.stop()
        await api.anonymous.get(location)
        private_redis.start()
        await api.anonymous.get(location)
        await api.anonymous.get(location)
        assert api.app[CACHE_STATS].hits == 1
