"""CLI feedback: colored on a terminal and plain otherwise; `migrate apply` reports each file with its timing."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from process_support import engine_env, run_engine

ESC = "\x1b["


def run_on_terminal(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal, as in an interactive shell."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", *args], cwd=cwd, env=env, stdout=follower, stderr=follower
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        return process.wait(timeout=120), b"".join(chunks).decode()
    finally:
        os.close(leader)


def plain_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return {**env, **extra}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "engine", "init", "app"], cwd=tmp_path, check=True, capture_output=True)
    return tmp_path / "app"


def break_spec(project: Path) -> None:
    with (project / "resources.yaml").open("a") as fh:
        fh.write("    colour: blue\n")


def test_check_success_is_green_on_a_terminal(project):
    code, output = run_on_terminal("check", cwd=project, env=plain_env())
    assert code == 0
    assert "\x1b[32mresources.yaml: 1 resources, all checks passed\x1b[0m" in output


def test_check_errors_are_red_on_a_terminal(project):
    break_spec(project)
    code, output = run_on_terminal("check", cwd=project, env=plain_env())
    assert code == 1
    assert re.search(r"\x1b\[31mresources\.yaml:\d+:\d+: resources\.notes\.colour: unknown key", output), output


def test_check_output_is_plain_when_piped(project):
    break_spec(project)
    result = subprocess.run(
        [sys.executable, "-m", "engine", "check"], cwd=project, env=plain_env(), capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "unknown key 'colour'" in result.stderr
    assert ESC not in result.stdout + result.stderr


def test_no_color_keeps_a_terminal_plain(project):
    code, output = run_on_terminal("check", cwd=project, env=plain_env(NO_COLOR="1"))
    assert code == 0 and "all checks passed" in output
    assert ESC not in output


def test_force_color_colors_piped_output(project):
    result = subprocess.run(
        [sys.executable, "-m", "engine", "check"],
        cwd=project,
        env=plain_env(FORCE_COLOR="1"),
        capture_output=True,
        text=True,
    )
    assert result.stdout.startswith("\x1b[32m")


async def test_migrate_apply_reports_each_file_in_order_with_its_timing(project, engine_database_url, engine_schema):
    schema_path = project / "schemas" / "note.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["archived"] = {"type": "boolean"}
    schema_path.write_text(json.dumps(schema))
    env = engine_env(engine_database_url, engine_schema)
    made = await run_engine("migrate", "make", "--name", "archived", cwd=project, env=env)
    assert made.code == 0, made.output
    applied = await run_engine("migrate", "apply", cwd=project, env=env)
    assert applied.code == 0, applied.output
    lines = re.findall(r"^applied (\S+) in \d+ ms$", applied.stdout, re.MULTILINE)
    assert lines == ["0001_initial.sql", "0002_archived.sql"]
    assert "2 migration(s) applied" in applied.stdout


async def test_migrate_apply_names_each_file_before_it_runs(project, engine_database_url, engine_schema):
    env = engine_env(engine_database_url, engine_schema)
    applied = await run_engine("migrate", "apply", cwd=project, env=env)
    assert applied.code == 0, applied.output
    output = applied.stdout.splitlines()
    starting = output.index("applying 0001_initial.sql ...")
    finished = next(i for i, line in enumerate(output) if line.startswith("applied 0001_initial.sql in "))
    assert starting < finished


async def test_migrate_apply_with_nothing_pending_says_so(project, engine_database_url, engine_schema):
    env = engine_env(engine_database_url, engine_schema)
    await run_engine("migrate", "apply", cwd=project, env=env)
    again = await run_engine("migrate", "apply", cwd=project, env=env)
    assert again.code == 0
    assert "nothing to apply: the database is up to date" in again.stdout
