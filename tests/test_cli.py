"""The command line: --help everywhere, exit codes 0 ok / 1 failure / 2 usage, and the route table."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import build_parser, main

ROOT = Path(__file__).parent.parent
SHIPPED_SPEC = str(ROOT / "resources.yaml")
GENERIC_SPEC = str(Path(__file__).parent / "specs" / "generic" / "resources.yaml")


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command the parser knows, plugin commands included."""
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += command_paths(sub, (*prefix, name))
    return paths


COMMANDS = command_paths(build_parser(SHIPPED_SPEC))


def test_core_commands_are_all_present():
    assert {
        ("serve",),
        ("check",),
        ("routes",),
        ("migrate", "make"),
        ("migrate", "apply"),
        ("migrate", "status"),
    } <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "(top)")
def test_help_exits_0_and_describes_the_command(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--spec", SHIPPED_SPEC, *command, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: resource-engine")


@pytest.mark.parametrize(
    "argv",
    [[], ["launch"], ["migrate"], ["migrate", "undo"], ["serve", "--port", "http"], ["migrate", "make", "--force"]],
    ids=["no command", "unknown command", "migrate without action", "unknown action", "bad port", "unknown flag"],
)
def test_usage_error_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--spec", SHIPPED_SPEC, *argv])
    assert exited.value.code == 2
    assert "usage: resource-engine" in capsys.readouterr().err


def test_check_of_the_shipped_spec_exits_0(capsys):
    assert main(["--spec", SHIPPED_SPEC, "check"]) == 0
    assert "all checks passed" in capsys.readouterr().out


def test_missing_spec_file_exits_1(tmp_path, capsys):
    assert main(["--spec", str(tmp_path / "nowhere.yaml"), "check"]) == 1
    assert "nowhere.yaml: cannot read" in capsys.readouterr().err


def test_routes_prints_every_resource_route(capsys):
    assert main(["--spec", GENERIC_SPEC, "routes"]) == 0
    table = [line.split() for line in capsys.readouterr().out.splitlines()]
    rows = {(cells[0], cells[1]) for cells in table}
    for resource in ("authors", "books"):
        base = f"/api/{resource}"
        assert {("GET", base), ("POST", base)} <= rows
        assert {("GET", base + "/{id}"), ("PATCH", base + "/{id}"), ("DELETE", base + "/{id}")} <= rows


def run(*argv: str) -> subprocess.CompletedProcess:
    """The real entry point in a fresh process, as a shell would run it."""
    return subprocess.run(
        [sys.executable, "-m", "engine", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_entry_point_exit_codes_reach_the_shell(tmp_path):
    assert run("--help").returncode == 0
    assert run("no-such-command").returncode == 2
    assert run("--spec", str(tmp_path / "nowhere.yaml"), "check").returncode == 1
