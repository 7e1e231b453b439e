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


async def test_a_request_meeting_a_column_not_migrated_yet_is_a_503_to_retry_not_a_500(api, expect_problem):
    """A deploy whose migration is not applied yet (here: the column the spec adds is missing)."""
    created = await api.anonymous.post("/api/notes", json={"text": "kept"})
    await api.sql('alter table notes drop column "text"')
    answer = await api.anonymous.get(created.headers["Location"])
    problem = expect_problem(answer, 503)
    assert "not yet migrated" in problem["detail"] and answer.headers["Retry-After"] == "5"
    assert "text" not in problem["detail"]  # nothing internal: no column or table named
