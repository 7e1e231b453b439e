"""ENGINE_DB_APPLICATION_NAME: the name the pool's sessions show in pg_stat_activity."""

from __future__ import annotations

import pytest

from engine.http.keys import POOL

SESSION_NAME = "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()"


async def test_the_pools_sessions_are_named_resource_engine_by_default(api):
    assert await api.app[POOL].fetchval(SESSION_NAME) == "resource-engine"


class TestNamed:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_DB_APPLICATION_NAME": "billing-api"}

    async def test_the_pools_sessions_carry_the_configured_name(self, api):
        assert await api.app[POOL].fetchval(SESSION_NAME) == "billing-api"
