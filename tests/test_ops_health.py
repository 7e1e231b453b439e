"""GET /healthz says the process is alive; GET /readyz says this worker should get traffic."""

import os

import pytest

from engine.http.keys import POOL
from engine.kernel.tasks import SHUTTING_DOWN

OPS_SPEC = os.path.join(os.path.dirname(__file__), "specs", "ops", "resources.yaml")


@pytest.fixture
def engine_spec_path():
    return OPS_SPEC


async def test_healthz_is_200(api):
    result = await api.anonymous.get("/healthz")
    assert (result.status, result.json) == (200, {"status": "ok"})


async def test_readyz_is_200_when_the_database_answers_and_no_migration_is_pending(api):
    result = await api.anonymous.get("/readyz")
    assert result.status == 200
    assert result.json["migrations"]["pending"] == 0


async def test_healthz_stays_200_while_the_database_is_unreachable_and_readyz_is_503(api):
    await api.app[POOL].close()
    assert (await api.anonymous.get("/healthz")).status == 200
    ready = await api.anonymous.get("/readyz")
    assert ready.status == 503
    assert ready.headers["Content-Type"].startswith("application/problem+json")
    assert "database is not reachable" in ready.json["detail"]


async def test_readyz_is_503_while_the_worker_is_shutting_down(api):
    api.app[SHUTTING_DOWN].set()
    ready = await api.anonymous.get("/readyz")
    assert ready.status == 503
    assert ready.json["detail"] == "this worker is shutting down"


async def test_the_shutting_down_event_is_set_when_the_app_shuts_down(api):
    assert not api.app[SHUTTING_DOWN].is_set()
    await api.app.shutdown()
    assert api.app[SHUTTING_DOWN].is_set()
