"""`resource-engine init DIR`: a new project that checks clean and serves at once, as a newcomer runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from process_support import engine_env, http, run_engine, serving


@pytest.fixture
async def project(tmp_path: Path) -> Path:
    result = await run_engine("init", "shop", cwd=tmp_path)
    assert result.code == 0, result.output
    return tmp_path / "shop"


async def test_init_writes_spec_schema_plugin_migration_gitignore_and_readme(project):
    files = {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}
    assert files == {
        "resources.yaml",
        "schemas/note.json",
        "plugins/example.py",
        "migrations/0001_initial.sql",
        ".gitignore",
        "README.md",
    }
    assert "# shop" in (project / "README.md").read_text()


async def test_init_prints_the_next_steps(tmp_path):
    result = await run_engine("init", "fresh", cwd=tmp_path)
    assert result.code == 0
    assert "resource-engine serve" in result.stdout and "resource-engine token --sub alice" in result.stdout


async def test_scaffolded_project_passes_check(project):
    result = await run_engine("check", cwd=project)
    assert result.code == 0, result.output


async def test_scaffolded_migrations_cover_the_spec(project):
    result = await run_engine("migrate", "make", "--check", cwd=project)
    assert result.code == 0, result.output


async def test_init_refuses_a_directory_that_is_not_empty(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    result = await run_engine("init", "taken", cwd=tmp_path)
    assert result.code == 1
    assert "not empty" in result.stderr
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]


async def test_scaffolded_project_serves_its_owner_scoped_resource_to_a_token_holder(
    project, engine_database_url, engine_schema
):
    env = engine_env(engine_database_url, engine_schema)
    async with serving(cwd=project, env=env) as (_, base):
        issued = await run_engine("token", "--sub", "alice", cwd=project, env=env)
        assert issued.code == 0, issued.output
        token = issued.stdout.strip()
        status, created = await http("POST", base + "/api/notes", token=token, json={"title": "First"})
        assert status == 201, created
        assert created["data"]["user_id"] == "alice"
        status, listed = await http("GET", base + "/api/notes", token=token)
        assert status == 200 and [n["title"] for n in listed["data"]] == ["First"]


async def test_scaffolded_example_plugin_runs(project, engine_database_url, engine_schema):
    env = engine_env(engine_database_url, engine_schema)
    async with serving(cwd=project, env=env) as (_, base):
        token = (await run_engine("token", "--sub", "bob", cwd=project, env=env)).stdout.strip()
        body = {"title": "  Padded  ", "tags": ["Work", "work "]}
        status, created = await http("POST", base + "/api/notes", token=token, json=body)
        assert status == 201, created
        assert created["data"]["title"] == "Padded" and created["data"]["tags"] == ["work"]


BOOKMARK_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Bookmark",
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "properties": {
        "id": {"type": "string", "format": "uuid", "readOnly": True},
        "owner_id": {"type": "string", "maxLength": 128},
        "url": {"type": "string", "minLength": 1, "maxLength": 2000},
        "title": {"type": "string", "maxLength": 200},
        "starred": {"type": "boolean", "default": False},
    },
}
BOOKMARKS_YAML = """
  bookmarks:
    schema: schemas/bookmark.json
    owner: owner_id
    indexes:
      - [owner_id, -created_at]
"""


async def test_a_newcomer_adds_a_resource_with_an_owner_and_calls_it(project, engine_database_url, engine_schema):
    """docs/getting-started.md, step by step."""
    (project / "schemas" / "bookmark.json").write_text(json.dumps(BOOKMARK_SCHEMA, indent=2))
    with (project / "resources.yaml").open("a") as fh:
        fh.write(BOOKMARKS_YAML)
    assert (await run_engine("check", cwd=project)).code == 0
    made = await run_engine("migrate", "make", cwd=project)
    assert made.code == 0, made.output
    assert (project / "migrations" / "0002_create_table_bookmarks.sql").exists()  # the name the guide gives
    env = engine_env(engine_database_url, engine_schema)
    async with serving(cwd=project, env=env) as (_, base):
        alice = (await run_engine("token", "--sub", "alice", cwd=project, env=env)).stdout.strip()
        bob = (await run_engine("token", "--sub", "bob", cwd=project, env=env)).stdout.strip()
        body = {"url": "https://example.com", "title": "Example"}
        status, created = await http("POST", base + "/api/bookmarks", token=alice, json=body)
        assert status == 201 and created["data"]["owner_id"] == "alice"
        status, listed = await http("GET", base + "/api/bookmarks?starred=false&sort=-created_at", token=alice)
        assert status == 200 and [b["url"] for b in listed["data"]] == ["https://example.com"]
        status, _ = await http("GET", f"{base}/api/bookmarks/{created['data']['id']}", token=bob)
        assert status == 404
