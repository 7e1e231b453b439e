"""Event outbox lag for /metrics, read from the events plugin's ``_engine_events`` table when it exists.

The table belongs to the events plugin, so this reader only assumes what an outbox has: a time
each event was written and a column that stays NULL until it is dispatched. It looks for those
columns by name once, builds its query from them, and reports nothing while the table (or such
columns) is missing: /metrics never fails because events are disabled or not yet migrated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
from sqlglot import exp

from ..sql.ddl import column, render, table

log = logging.getLogger("engine.ops")

OUTBOX_TABLE = "_engine_events"
WRITTEN_COLUMNS = ("created_at", "at", "occurred_at", "inserted_at")
DISPATCHED_COLUMNS = ("dispatched_at", "delivered_at", "processed_at", "published_at")

_COLUMNS = render(
    exp.select(column("column_name"))
    .from_(exp.Table(this=exp.to_identifier("columns"), db=exp.to_identifier("information_schema")))
    .where(
        column("table_name").eq(exp.Parameter(this=exp.Literal.number(1)))
        & column("table_schema").eq(exp.Anonymous(this="current_schema", expressions=[]))
    )
)


@dataclass(frozen=True)
class Lag:
    pending: int
    seconds: float


def lag_query(written: str, dispatched: str) -> str:
    """count(*) and the age in seconds of the oldest undispatched event (0 when none)."""
    age = exp.Extract(
        this=exp.var("epoch"),
        expression=exp.Sub(this=exp.Anonymous(this="now", expressions=[]), expression=exp.Min(this=column(written))),
    )
    return render(
        exp.select(
            exp.alias_(exp.Count(this=exp.Star()), "pending"),
            exp.alias_(exp.Coalesce(this=age, expressions=[exp.Literal.number(0)]), "seconds"),
        )
        .from_(table(OUTBOX_TABLE))
        .where(exp.Is(this=column(dispatched), expression=exp.Null()))
    )


class OutboxReader:
    """Finds the outbox's columns on first use (and again while the table is missing)."""

    def __init__(self) -> None:
        self.sql: str | None = None

    async def read(self, pool: asyncpg.Pool) -> Lag | None:
        if self.sql is None:
            self.sql = await self._discover(pool)
            if self.sql is None:
                return None
        try:
            row = await pool.fetchrow(self.sql)
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError):
            self.sql = None  # the table was dropped or changed: look again next time
            return None
        return Lag(int(row["pending"]), float(row["seconds"]))

    async def _discover(self, pool: asyncpg.Pool) -> str | None:
        names = {row["column_name"] for row in await pool.fetch(_COLUMNS, OUTBOX_TABLE)}
        written = next((name for name in WRITTEN_COLUMNS if name in names), None)
        dispatched = next((name for name in DISPATCHED_COLUMNS if name in names), None)
        if written is None or dispatched is None:
            if names:
                log.debug("outbox lag unavailable: %s has no known time/dispatch columns", OUTBOX_TABLE)
            return None
        return lag_query(written, dispatched)
