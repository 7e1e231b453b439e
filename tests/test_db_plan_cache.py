"""Each statement shape is planned once per connection (ENGINE_DB_PLAN_CACHE_MODE, default
force_generic_plan): PostgreSQL's `auto` mode planned the access-rule queries anew on every execution."""

from __future__ import annotations

import asyncio

import pytest

from engine.http.keys import POOL
from engine.kernel import settings
from engine.kernel.errors import ConfigurationError


@pytest.fixture
def engine_env(engine_env):
    """One pooled connection: its prepared statements are the ones the requests used."""
    return {**engine_env, "ENGINE_POOL_MIN_SIZE": "1", "ENGINE_POOL_SIZE": "1"}


async def test_the_pools_connections_use_generic_plans(api):
    assert await api.app[POOL].fetchval("SHOW plan_cache_mode") == "force_generic_plan"


async def test_a_read_under_the_shared_agents_rule_is_planned_once_and_reused(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]
    for _ in range(8):
        assert (await alice.get(f"/api/agents/{agent['id']}")).status == 200
    rows = await api.app[POOL].fetch(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE 'SELECT %FROM \"agents\"%'"
    )
    assert rows, "the read is a prepared statement of the pool's connection"
    assert sum(r["generic_plans"] for r in rows) >= 8 and sum(r["custom_plans"] for r in rows) == 0, rows


class TestAuto:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_DB_PLAN_CACHE_MODE": "auto"}

    async def test_auto_leaves_the_choice_to_postgresql(self, api):
        assert await api.app[POOL].fetchval("SHOW plan_cache_mode") == "auto"


def test_an_unknown_mode_is_refused_naming_the_choices():
    with pytest.raises(ConfigurationError, match="one of force_generic_plan, auto, force_custom_plan"):
        settings.value("ENGINE_DB_PLAN_CACHE_MODE", {"ENGINE_DB_PLAN_CACHE_MODE": "sometimes"})


class TestStatementLifetime:
    """A generic plan is made for the tables as they are: the pool prepares each statement again
    after ENGINE_DB_STATEMENT_LIFETIME, so a plan made while a table was empty follows its growth."""

    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_DB_STATEMENT_LIFETIME": "1"}

    async def test_a_statement_is_prepared_again_after_its_lifetime(self, api):
        alice = await api.as_user("alice")

        async def prepared() -> set[str]:
            query = "SELECT name FROM pg_prepared_statements WHERE statement LIKE $1"
            rows = await api.app[POOL].fetch(query, 'WITH written AS (INSERT INTO "agents"%')
            return {r["name"] for r in rows}

        assert (await alice.post("/api/agents", json={"name": "first"})).status == 201
        first = await prepared()
        assert len(first) == 1
        await asyncio.sleep(1.5)  # past the 1 s lifetime: asyncpg drops the statement from its cache
        assert (await alice.post("/api/agents", json={"name": "second"})).status == 201
        assert (await prepared()) - first, "the insert was prepared again, with a plan for the table as it is now"


def test_statements_are_prepared_again_every_30_seconds_by_default():
    assert settings.value("ENGINE_DB_STATEMENT_LIFETIME", {}) == 30.0
