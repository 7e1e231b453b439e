"""`resource-engine history prune`: apply every resource's declared retention now."""

from __future__ import annotations

import argparse

import asyncpg

from engine.features.history.store import Versions
from engine.http.app import run_on_database
from engine.kernel.config import Config
from engine.spec import Spec, load_spec


async def prune_all(conn: asyncpg.Connection, spec: Spec) -> dict[str, int]:
    """Versions removed per resource, by its `history: {keep, max_age}`."""
    removed = {}
    for name, resource in spec.resources.items():
        if resource.history is not None:
            try:
                removed[name] = await Versions(resource).prune(conn)
            except asyncpg.UndefinedTableError:
                removed[name] = 0  # not migrated yet: nothing kept
    return removed


def _prune_command(args: argparse.Namespace, out) -> int:
    spec = load_spec(args.spec)
    removed = run_on_database(Config.from_env(spec), lambda conn: prune_all(conn, spec))
    for name, count in removed.items():
        out.plain(f"{name}: pruned {count} version(s)")
    out.ok(f"pruned {sum(removed.values())} version(s) of {len(removed)} resource(s) with history")
    return 0


def register(commands) -> None:
    history = commands.add_parser("history", help="apply the retention of row versions (history:)")
    actions = history.add_subparsers(dest="history_command", required=True, metavar="ACTION")
    prune = actions.add_parser("prune", help="delete the versions beyond each resource's keep / max_age")
    prune.set_defaults(run=_prune_command)
