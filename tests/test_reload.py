"""`resource-engine serve --reload`: a change is served after a reload; a broken one is reported and
the last good app keeps serving. Runs the real command in a subprocess on a scaffolded project."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from process_support import engine_env, http, run_engine, serving

WATCHING = "watching for changes"
NOT_RELOADED = "not reloaded: fix the problems above (the last good app keeps serving)"


@pytest.fixture
async def project(tmp_path: Path) -> Path:
    result = await run_engine("init", "app", cwd=tmp_path)
    assert result.code == 0, result.output
    return tmp_path / "app"


@pytest.fixture
def env(engine_database_url, engine_schema) -> dict[str, str]:
    return engine_env(engine_database_url, engine_schema)


def set_description(project: Path, text: str) -> None:
    path = project / "schemas" / "note.json"
    schema = json.loads(path.read_text())
    schema["description"] = text
    path.write_text(json.dumps(schema, indent=2))


async def served_description(base: str) -> str:
    _, document = await http("GET", base + "/openapi.json")
    return document["components"]["schemas"]["Notes"]["description"]


async def wait_for_description(base: str, text: str, server) -> None:
    """Poll until the served document shows `text` (a reload takes a few seconds)."""
    for _ in range(300):
        if await served_description(base) == text:
            return
        if server.process.returncode is not None:
            break
        await asyncio.sleep(0.2)
    raise AssertionError(f"the change was never served:\n{server.output}")


async def test_a_schema_change_is_served_after_a_reload(project, env):
    async with serving("--reload", cwd=project, env=env) as (server, base):
        await server.wait_for_output(WATCHING)
        set_description(project, "Notes, reloaded.")
        await wait_for_description(base, "Notes, reloaded.", server)
        assert "schemas/note.json changed" in server.output


async def test_an_invalid_change_prints_the_check_errors(project, env):
    async with serving("--reload", cwd=project, env=env) as (server, _):
        await server.wait_for_output(WATCHING)
        with (project / "resources.yaml").open("a") as fh:
            fh.write("    colour: blue\n")
        await server.wait_for_output(NOT_RELOADED)
        assert "resources.yaml:" in server.output and "unknown key 'colour'" in server.output


async def test_the_last_good_app_keeps_serving_after_an_invalid_change(project, env):
    async with serving("--reload", cwd=project, env=env) as (server, base):
        await server.wait_for_output(WATCHING)
        token = (await run_engine("token", "--sub", "alice", cwd=project, env=env)).stdout.strip()
        (project / "schemas" / "note.json").write_text("{ not json")
        await server.wait_for_output(NOT_RELOADED)
        status, _ = await http("POST", base + "/api/notes", token=token, json={"title": "Still here"})
        assert status == 201


async def test_fixing_the_problem_reloads(project, env):
    async with serving("--reload", cwd=project, env=env) as (server, _):
        await server.wait_for_output(WATCHING)
        good = (project / "resources.yaml").read_text()
        (project / "resources.yaml").write_text(good + "    colour: blue\n")
        await server.wait_for_output(NOT_RELOADED)
        seen = len(server.lines)
        (project / "resources.yaml").write_text(good)
        await server.wait_for_output("reloaded: serving the new app", after=seen)


async def test_an_app_that_fails_to_start_leaves_the_old_one_serving(project, env):
    async with serving("--reload", cwd=project, env=env) as (server, base):
        await server.wait_for_output(WATCHING)
        (project / "plugins" / "refuses.py").write_text(
            "from engine import hookimpl\n"
            "from engine.kernel.errors import ConfigurationError\n\n\n"
            "@hookimpl\n"
            "def configure(app):\n"
            "    raise ConfigurationError('REFUSES_SETTING is missing')\n"
        )
        await server.wait_for_output("the new app did not start")
        assert "REFUSES_SETTING is missing" in server.output
        assert await served_description(base) == "A short text that belongs to the user who wrote it."
