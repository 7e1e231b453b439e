"""`resource-engine events ...`: retention and inspection of the outbox, from the command line."""

from __future__ import annotations

import argparse
from datetime import timedelta

import asyncpg

from engine.features.events import positions
from engine.features.events.tables import PRUNE_EVENTS, PRUNED_CURSOR, SELECT_FAILURES
from engine.http.app import run_on_database
from engine.kernel.config import Config
from engine.kernel.settings import parse_duration
from engine.spec import load_spec


async def prune(conn: asyncpg.Connection, older_than: timedelta) -> int:
    """Delete events older than `older_than` and their handler failures; returns how many events.

    Remembers the position of the newest event removed, so a stream resume from before it is
    refused (410) rather than silently skipping events.
    """
    async with conn.transaction():
        newest = await conn.fetchrow(PRUNE_EVENTS.sql, older_than)
        if newest is None:
            return 0
        through = (newest["tx"], newest["id"])
        previous = await positions.load_cursor(conn, PRUNED_CURSOR)
        await positions.save_cursor(conn, PRUNED_CURSOR, max(previous or through, through))
    return newest["count"]


def _run(args: argparse.Namespace, work) -> object:
    return run_on_database(Config.from_env(load_spec(args.spec)), work)


def _prune_command(args: argparse.Namespace, out) -> int:
    seconds = parse_duration(args.older_than)
    if seconds <= 0:
        out.error("--older-than must be a positive duration, e.g. 30d")
        return 2

    async def work(conn: asyncpg.Connection) -> int:
        try:
            return await prune(conn, timedelta(seconds=seconds))
        except asyncpg.UndefinedTableError:
            return 0  # the server never started here: no events yet

    count = _run(args, work)
    out.ok(f"pruned {count} event(s) older than {args.older_than}")
    return 0


def _failures_command(args: argparse.Namespace, out) -> int:
    async def work(conn: asyncpg.Connection) -> list:
        try:
            return await conn.fetch(SELECT_FAILURES.sql)
        except asyncpg.UndefinedTableError:
            return []

    rows = _run(args, work)
    for row in rows:
        summary = row["error"].strip().splitlines()[-1] if row["error"].strip() else ""
        out.plain(
            f"{row['failed_at']:%Y-%m-%d %H:%M:%S}  event {row['event_id']}  {row['handler']}  "
            f"after {row['attempts']} attempt(s): {summary}"
        )
    out.info(f"{len(rows)} failure(s)")
    return 0


def register(commands) -> None:
    events = commands.add_parser("events", help="prune the event outbox and inspect handler failures")
    actions = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    prune_parser = actions.add_parser("prune", help="delete events older than a duration (and their failures)")
    prune_parser.add_argument("--older-than", required=True, help="a duration: 30d, 12h, 90m, or seconds")
    prune_parser.set_defaults(run=_prune_command)
    failures = actions.add_parser("failures", help="list on_event handler failures kept after the last retry")
    failures.set_defaults(run=_failures_command)
