"""`resource-engine init DIR`: a new project that `resource-engine serve` runs at once.

The files come from engine/cli/scaffold/project (package data); the first migration is generated
here from the scaffolded spec, so it always matches this version of the engine.
"""

from __future__ import annotations

import argparse
import os
from importlib import resources as package_files
from importlib.resources.abc import Traversable
from string import Template

from engine import migrations
from engine.cli.output import Printer
from engine.spec import SpecError, load_spec

RENAMED = {"gitignore": ".gitignore"}  # dotfiles are stored without the dot in the package
TEMPLATED = (".md", ".yaml")


def _files(directory: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found = []
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        relative = f"{prefix}{RENAMED.get(entry.name, entry.name)}"
        found += _files(entry, relative + "/") if entry.is_dir() else [(relative, entry)]
    return found


def scaffold(target: str, project: str) -> list[str]:
    """Write the project files into `target` (which must be empty or absent); returns their paths."""
    written = []
    for relative, source in _files(package_files.files("engine.cli").joinpath("scaffold", "project")):
        text = source.read_text(encoding="utf-8")
        if relative.endswith(TEMPLATED):
            text = Template(text).safe_substitute(project=project)
        path = os.path.join(target, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(text)
        written.append(path)
    return written


def first_migration(target: str) -> str:
    spec = load_spec(os.path.join(target, "resources.yaml"))
    directory = os.path.join(target, "migrations")
    return migrations.write_next(
        directory, migrations.pending_steps(spec, directory), migrations.spec_model(spec), None
    )


def cmd_init(args: argparse.Namespace, out: Printer) -> int:
    target = os.path.abspath(args.directory)
    if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
        out.error(f"{args.directory} exists and is not empty: choose a new directory")
        return 1
    project = os.path.basename(target.rstrip(os.sep)) or "api"
    os.makedirs(target, exist_ok=True)
    scaffold(target, project)
    try:
        migration = first_migration(target)
    except SpecError as exc:  # a broken scaffold is the engine's bug: say so plainly
        for line in exc.errors:
            out.error(line)
        return 1
    out.ok(f"created {args.directory}: resources.yaml, schemas/, plugins/, {os.path.relpath(migration, target)}")
    out.plain("")
    out.plain("next:")
    out.plain(f"  cd {args.directory}")
    out.plain("  resource-engine serve --reload                 # http://127.0.0.1:8000/docs")
    out.plain("  TOKEN=$(resource-engine token --sub alice)     # in another terminal")
    out.plain(
        "  curl -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
        '-d \'{"title": "First note"}\' http://127.0.0.1:8000/api/notes'
    )
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    init = commands.add_parser("init", help="create a new project (resources.yaml, schemas, plugins, migrations)")
    init.add_argument("directory", help="where to create it (a new or empty directory)")
    init.set_defaults(run=cmd_init)
