"""/readyz answers 503 while a migration file of the project has not been applied."""

import os

import pytest

from engine.migrations import read_all

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def engine_spec_path():
    return os.path.join(ROOT, "resources.yaml")  # the example app ships migrations/; the test schema has none applied


async def test_readyz_is_a_503_problem_naming_the_pending_migrations(api):
    ready = await api.anonymous.get("/readyz")
    assert ready.status == 503
    assert ready.json["pending"] == [m.name for m in read_all(os.path.join(ROOT, "migrations"))]
    assert "resource-engine migrate apply" in ready.json["detail"]
