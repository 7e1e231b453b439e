"""The command line: --help everywhere, exit codes 0 ok / 1 failure / 2 usage, and the route table."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import engine.cli.main as engine_cli_main
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


def test_a_plugin_command_outside_a_project_says_why_it_is_missing(tmp_path, capsys):
    assert main(["--spec", str(tmp_path / "resources.yaml"), "token", "--sub", "alice"]) == 2
    err = capsys.readouterr().err
    assert "no command 'token' here" in err
    assert f"there is no {tmp_path / 'resources.yaml'} here (run the command in the project's folder" in err


def test_a_plugin_command_of_a_broken_project_names_the_first_problem(write_spec, capsys):
    spec = write_spec("version: 1\nresources:\n  notes:\n    schema: schemas/missing.json\n")
    assert main(["--spec", str(spec), "token", "--sub", "alice"]) == 2
    err = capsys.readouterr().err
    assert "no command 'token' here" in err and "schema file 'schemas/missing.json' does not exist" in err


def test_the_core_commands_are_the_ones_a_broken_project_keeps(tmp_path):
    parser = build_parser(str(tmp_path / "resources.yaml"))
    kept = {path[0] for path in command_paths(parser) if path}
    assert kept == set(engine_cli_main.CORE_COMMANDS)
    assert set(engine_cli_main.PLUGIN_COMMANDS) <= {path[0] for path in COMMANDS if path}


def test_a_reader_that_stops_early_gets_no_traceback():
    """`resource-engine openapi | head`: the document is larger than a pipe holds."""
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "openapi"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stdout.read(100).startswith(b"{")
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1 and b"Traceback" not in err and b"BrokenPipeError" not in err


def test_check_refuses_a_plugin_setting_in_resources_yaml_that_serve_would_refuse(write_spec, schema_of, capsys):
    spec = write_spec(
        "version: 1\nplugins:\n  settings:\n    events: {retrys: 3}\n"
        "resources:\n  notes:\n    schema: schemas/n.json\n",
        {"schemas/n.json": schema_of({"id": {"type": "string", "format": "uuid"}})},
    )
    assert main(["--spec", str(spec), "check"]) == 1
    assert "plugins.settings.events.retrys is not a known events setting" in capsys.readouterr().err
