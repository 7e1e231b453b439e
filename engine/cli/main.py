"""`resource-engine` command line: thin wrappers over the layers. Exit codes: 0 ok, 1 failure, 2 usage."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import warnings
from collections.abc import Callable
from functools import partial

from engine import migrations
from engine.cli import explain, init, serve
from engine.cli.output import Printer, spec_or_exit
from engine.db.pool import connect
from engine.http.app import create_app, resolve_database_url
from engine.kernel import settings
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.kernel.hooks import call_all_sync
from engine.kernel.plugins import PluginError, build_plugin_manager
from engine.kernel.settings import value
from engine.resources.values import ValueProblem
from engine.spec import Spec, SpecError, load_spec
from engine.sql.search import COLUMN_PREFIX as SEARCH_COLUMN_PREFIX


def cmd_check(args: argparse.Namespace, out: Printer) -> int:
    spec = spec_or_exit(args, out)
    with warnings.catch_warnings(record=True) as caught:  # hidden by Python's default filters otherwise
        warnings.simplefilter("always", DeprecationWarning)
        try:
            build_plugin_manager(spec)
        except PluginError as exc:
            out.error(str(exc))
            return 1
    for warning in caught:
        if issubclass(warning.category, DeprecationWarning):
            out.warn(f"deprecated: {warning.message}")
    try:  # as serve does: settings in resources.yaml (and ENGINE_* variables), plugins' ones included
        settings.check(Config.from_env(spec).extra, spec)
    except ConfigurationError as exc:
        out.error(str(exc))
        return 1
    out.ok(f"{args.spec}: {len(spec.resources)} resources, all checks passed")
    return 0


def cmd_explain(args: argparse.Namespace, out: Printer) -> int:
    spec = spec_or_exit(args, out)
    if args.resource not in spec.resources:
        out.error(f"unknown resource {args.resource!r}; known: {', '.join(spec.resources)}")
        return 2
    try:
        compiled, values, lines = asyncio.run(explain.explained(spec, args))
    except ValueProblem as problem:
        out.error(f"--id is not a {args.resource} primary key: expected {problem}")
        return 2
    for line in lines:
        out.plain(line)
    if not args.plan:
        return 0

    async def work(conn) -> int:
        for line in await explain.plan(conn, compiled, values):
            out.plain(line)
        return 0

    return _with_connection(spec, work)


def cmd_routes(args: argparse.Namespace, out: Printer) -> int:
    spec = spec_or_exit(args, out)
    app = create_app(spec, Config.from_env(spec))
    rows = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        rows.append((route.method, path, getattr(route.handler, "__qualname__", "")))
    width = max(len(r[1]) for r in rows) if rows else 0
    for method, path, handler in rows:
        out.plain(f"{method:<7} {path:<{width}}  {handler}")
    return 0


def _database_url(spec: Spec) -> tuple[str, str | None]:
    """The commands' connection: ENGINE_LISTEN_DATABASE_URL when set (direct, never through a
    transaction pooler: migrations hold a session lock), else DATABASE_URL or the embedded database."""
    config = Config.from_env(spec)
    return config.listen_database_url or resolve_database_url(config), config.db_schema


def _migrations_dir(spec: Spec) -> str:
    return os.path.join(spec.root, "migrations")


def cmd_migrate_make(args: argparse.Namespace, out: Printer) -> int:
    spec = spec_or_exit(args, out)
    directory = _migrations_dir(spec)
    if forks := migrations.same_numbers(migrations.read_all(directory)):
        for group in forks:
            out.error(_forked(group))
        return 1
    try:
        steps = migrations.pending_steps(spec, directory, _renames(args.rename))
    except migrations.RenameProblem as exc:
        out.error(f"--rename {exc}")
        return 2
    if not steps:
        out.ok("no changes: the migrations already produce this spec")
        return 0
    for step in steps:
        (out.warn if step.destructive else out.plain)(
            ("  DESTRUCTIVE " if step.destructive else "  ") + step.description
        )
        if step.warning:
            out.warn(f"    warning: {step.warning}")
    refused = [s for s in steps if s.refusal]
    for step in refused:
        out.error(f"  refused: {step.refusal}")
    if refused and not args.check:
        out.error(f"{len(refused)} step(s) would fail on a table with rows. Nothing was written.")
        _hint_renames(steps, out)
        return 1
    if args.check:
        out.error(
            f"{len(steps)} change(s) in {args.spec} are not covered by a migration: run `resource-engine migrate make`"
        )
        return 1
    destructive = [s for s in steps if s.destructive]
    if destructive and not args.allow_destructive:
        out.error(
            f"{len(destructive)} step(s) would lose data; re-run with --allow-destructive "
            "if that is intended. Nothing was written."
        )
        _hint_renames(steps, out)
        return 1
    path = migrations.write_next(directory, steps, migrations.spec_model(spec), args.name)
    out.ok(f"wrote {os.path.relpath(path)} ({len(steps)} step(s)); apply it with `resource-engine migrate apply`")
    return 0


def _renames(given: list[str]) -> dict[tuple[str, str], str]:
    renames = {}
    for text in given:
        source, _, to = text.partition("=")
        table_name, _, column_name = source.partition(".")
        if not (table_name and column_name and to):
            raise migrations.RenameProblem(f"{text}: expected TABLE.OLD=NEW, e.g. notes.body=content")
        renames[(table_name, column_name)] = to
    return renames


def _hint_renames(steps: list[migrations.Step], out: Printer) -> None:
    """A field renamed in a schema reads as one column dropped and another added: say how to keep the data."""
    added = {s.description.removeprefix("add column ") for s in steps if s.description.startswith("add column ")}
    added = {a for a in added if not a.partition(".")[2].startswith(SEARCH_COLUMN_PREFIX)}  # search vectors
    dropped = {
        s.description.removeprefix("drop column ")
        for s in steps
        if s.description.startswith("drop column ") and s.destructive  # a generated column holds no data
    }
    for gone in sorted(dropped):
        table_name = gone.partition(".")[0]
        for new in sorted(a for a in added if a.startswith(f"{table_name}.")):
            out.info(f"  if {gone} was renamed to {new}: --rename {gone}={new.partition('.')[2]} keeps its data")


def _forked(group: list[migrations.MigrationFile]) -> str:
    names = " and ".join(f"migrations/{m.name}" for m in group)
    return (
        f"{names} share the number {group[0].number:04d}: they were written on two branches from the same "
        "migration, and the newest file's snapshot lacks the other branch's changes, so the next migration would "
        "repeat or undo them. Keep the branch whose files a shared database has applied, delete the other "
        f"branch's files (from {group[0].number:04d} on) and run `resource-engine migrate make` again: it writes "
        "their changes as the next migration."
    )


def _with_connection(spec: Spec, work: Callable) -> int:
    url, schema = _database_url(spec)

    async def run() -> int:
        conn = await connect(url, schema=schema)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def _report_migration(out: Printer, name: str, milliseconds: float | None) -> None:
    if milliseconds is None:
        out.info(f"applying {name} ...")
    else:
        out.ok(f"applied {name} in {milliseconds:.0f} ms")


def cmd_migrate_apply(args: argparse.Namespace, out: Printer) -> int:
    spec = spec_or_exit(args, out)

    async def work(conn) -> int:
        try:
            done = await migrations.apply(conn, _migrations_dir(spec), progress=partial(_report_migration, out))
        except migrations.MigrationError as exc:
            out.error(str(exc))
            return 1
        out.info(f"{len(done)} migration(s) applied" if done else "nothing to apply: the database is up to date")
        if warning := (await migrations.status(conn, _migrations_dir(spec))).unknown_warning():
            out.warn(f"warning: {warning}")
        return 0

    return _with_connection(spec, work)


def cmd_migrate_status(args: argparse.Namespace, out: Printer) -> int:
    spec = spec_or_exit(args, out)

    async def work(conn) -> int:
        try:
            state = await migrations.status(conn, _migrations_dir(spec))
        except migrations.MigrationError as exc:
            out.error(str(exc))
            return 1
        for name, when in state.applied:
            out.plain(f"  applied  {name}  ({when})")
        for migration in state.pending:
            out.warn(f"  pending  {migration.name}")
        out.info(f"{len(state.applied)} applied, {len(state.pending)} pending")
        if warning := state.unknown_warning():
            out.warn(f"warning: {warning}")
        return 0

    return _with_connection(spec, work)


CORE_COMMANDS = ("init", "serve", "check", "explain", "routes", "migrate")
PLUGIN_COMMANDS = ("token", "events", "keys", "history", "soft-delete", "openapi", "mcp")


def _plugin_commands(commands, spec_path: str) -> str | None:
    """Let plugins add commands (token, events ...); a broken spec leaves only the core commands,
    and the reason is returned, so that asking for one of the others can say why it is missing."""
    if not os.path.exists(spec_path):
        return f"there is no {spec_path} here (run the command in the project's folder, or give --spec PATH)"
    try:
        pm = build_plugin_manager(load_spec(spec_path))
    except SpecError as exc:
        return f"{exc.errors[0]}" + (
            f" (and {len(exc.errors) - 1} more: resource-engine check)" if exc.errors[1:] else ""
        )
    except (PluginError, OSError) as exc:
        return str(exc)
    call_all_sync(pm.hook.register_commands, commands=commands)
    return None


def build_parser(spec_path: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="resource-engine", description=__doc__.split(":")[0] + ".")
    parser.add_argument(
        "--spec",
        default=value("ENGINE_SPEC"),
        help="path to resources.yaml (default: %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init.add_parser(commands)
    serve.add_parser(commands)

    check = commands.add_parser("check", help="validate resources.yaml, the schemas and the plugins")
    check.set_defaults(run=cmd_check)

    explain.add_parser(commands)
    commands.choices["explain"].set_defaults(run=cmd_explain)

    routes = commands.add_parser("routes", help="print the route table")
    routes.set_defaults(run=cmd_routes)

    migrate = commands.add_parser("migrate", help="generate and apply database migrations")
    steps = migrate.add_subparsers(dest="migrate_command", required=True, metavar="ACTION")
    make = steps.add_parser("make", help="write the next migration from the spec")
    make.add_argument("--name", help="a short name for the file")
    make.add_argument("--check", action="store_true", help="exit 1 if the spec has changes no migration covers")
    make.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="TABLE.OLD=NEW",
        help="a field renamed in its schema: rename the column (data kept) instead of dropping it and adding one",
    )
    make.add_argument(
        "--allow-destructive", action="store_true", help="allow dropping tables or columns and changing types"
    )
    make.set_defaults(run=cmd_migrate_make)
    apply = steps.add_parser("apply", help="apply pending migrations")
    apply.set_defaults(run=cmd_migrate_apply)
    status = steps.add_parser("status", help="list applied and pending migrations")
    status.set_defaults(run=cmd_migrate_status)
    if spec_path is not None and (problem := _plugin_commands(commands, spec_path)):
        parser.epilog = (
            f"Only the core commands are listed: the commands of plugins ({', '.join(PLUGIN_COMMANDS)} ...) "
            f"come with the project's plugins, which could not be loaded: {problem}"
        )
    return parser


def _missing_plugin_command(parser: argparse.ArgumentParser, rest: list[str]) -> str | None:
    """The command asked for, when it is not a core command and the plugins could not be loaded."""
    command = next((word for word in rest if not word.startswith("-")), None)
    return command if parser.epilog and command is not None and command not in CORE_COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--spec", default=value("ENGINE_SPEC"))
    known, rest = early.parse_known_args(argv)
    parser = build_parser(known.spec)
    out = Printer(sys.stdout, sys.stderr)
    if command := _missing_plugin_command(parser, rest):
        out.error(f"resource-engine: no command {command!r} here. {parser.epilog}")
        return 2
    args = parser.parse_args(argv)
    try:
        logging.basicConfig(level=value("ENGINE_LOG_LEVEL"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return args.run(args, out)
    except SystemExit as exc:
        return int(exc.code or 0)
    except (ValueError, ConfigurationError) as exc:  # bad ENGINE_* values
        out.error(str(exc))
        return 1
    except BrokenPipeError:  # `resource-engine openapi | head`: the reader has gone, no traceback for that
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the interpreter's last flush fails too
        return 1


if __name__ == "__main__":
    sys.exit(main())
