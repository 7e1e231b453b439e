"""`resource-engine soft-delete purge`: remove the rows deleted longer ago than `purge_after` now."""

from __future__ import annotations

import argparse

import asyncpg

from engine.features.soft_delete.rows import Rows
from engine.http.app import run_on_database
from engine.kernel.config import Config
from engine.spec import Spec, load_spec


async def purge_all(conn: asyncpg.Connection, spec: Spec) -> dict[str, int]:
    """Rows removed per resource declaring `soft_delete: {purge_after}`."""
    removed = {}
    for name, resource in spec.resources.items():
        if resource.soft_delete is not None and resource.soft_delete.purge_after:
            try:
                removed[name] = await Rows(resource).purge(conn)
            except asyncpg.UndefinedColumnError:
                removed[name] = 0  # not migrated yet: nothing deleted
    return removed


def _purge_command(args: argparse.Namespace, out) -> int:
    spec = load_spec(args.spec)
    removed = run_on_database(Config.from_env(spec), lambda conn: purge_all(conn, spec))
    for name, count in removed.items():
        out.plain(f"{name}: purged {count} deleted row(s)")
    out.ok(f"purged {sum(removed.values())} deleted row(s) of {len(removed)} resource(s) with purge_after")
    return 0


def register(commands) -> None:
    soft = commands.add_parser("soft-delete", help="purge soft-deleted rows past their purge_after")
    actions = soft.add_subparsers(dest="soft_delete_command", required=True, metavar="ACTION")
    purge = actions.add_parser("purge", help="remove for good the rows deleted longer ago than purge_after")
    purge.set_defaults(run=_purge_command)
