"""/readyz answers 503 while a migration file of the project is not applied, and 200 once it is."""

import os
import shutil

import pytest

from engine import migrations
from engine.db.pool import connect

OPS_PROJECT = os.path.join(os.path.dirname(__file__), "specs", "ops")
NEW_MIGRATION = "0001_backfill.sql"


@pytest.fixture
def engine_spec_path(tmp_path):
    """The ops project, deployed with a migration file the database has not seen yet."""
    project = tmp_path / "project"
    shutil.copytree(OPS_PROJECT, project)
    (project / "migrations").mkdir()
    (project / "migrations" / NEW_MIGRATION).write_text("SELECT 1;\n")
    return str(project / "resources.yaml")


async def test_readyz_is_a_503_problem_naming_the_pending_migrations(api):
    ready = await api.anonymous.get("/readyz")
    assert ready.status == 503
    assert ready.json["pending"] == [NEW_MIGRATION]
    assert "resource-engine migrate apply" in ready.json["detail"]


async def test_readyz_turns_200_once_the_migrations_are_applied(api):
    assert (await api.anonymous.get("/readyz")).status == 503
    conn = await connect(api.database_url, schema=api.schema)
    try:
        await migrations.apply(conn, os.path.join(api.spec.root, "migrations"))
    finally:
        await conn.close()
    assert (await api.anonymous.get("/readyz")).status == 200
