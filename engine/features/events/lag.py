"""Event outbox lag for /metrics, read from the events plugin's ``_engine_events`` table when it exists.

The tables belong to the events plugin, so this reader looks at their columns once and picks the
query that fits: the built-in events plugin keeps a delivery position (``_engine_event_cursors``,
row ``handlers``: a (tx, id) pair, or an id in older releases) and everything after it is still
to deliver; an outbox of another design
may mark rows with a ``dispatched_at``-like column instead. It reports nothing while the tables are
missing: /metrics never fails because events are disabled or not yet created.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
from sqlglot import exp

from engine.sql.ddl import column, render, table

log = logging.getLogger("engine.ops")

OUTBOX_TABLE = "_engine_events"
CURSORS_TABLE = "_engine_event_cursors"
DELIVERY_CURSOR = "handlers"  # the events plugin's cluster-wide on_event delivery position
WRITTEN_COLUMNS = ("created_at", "at", "occurred_at", "inserted_at")
DISPATCHED_COLUMNS = ("dispatched_at", "delivered_at", "processed_at", "published_at")

_COLUMNS = render(
    exp.select(column("table_name"), column("column_name"))
    .from_(exp.Table(this=exp.to_identifier("columns"), db=exp.to_identifier("information_schema")))
    .where(
        column("table_name").isin(*(exp.Parameter(this=exp.Literal.number(n)) for n in (1, 2)))
        & column("table_schema").eq(exp.Anonymous(this="current_schema", expressions=[]))
    )
)


@dataclass(frozen=True)
class Lag:
    pending: int
    seconds: float


def _lag_select(written: str, undelivered: exp.Expression) -> str:
    """count(*) and the age in seconds of the oldest undelivered event (0 when none)."""
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
        .where(undelivered)
    )


def cursor_lag_query(written: str, ordered: bool = False) -> str:
    """Events after the delivery position (none while the position row does not exist).

    `ordered`: events and cursor carry `tx`, and the order is (tx, id) (engine.features.events.tables).
    """
    if not ordered:
        return _lag_select(written, column("id") > exp.Subquery(this=_cursor(column("position"))))
    after = exp.GT(
        this=exp.Tuple(expressions=[column("tx"), column("id")]),
        expression=exp.Subquery(
            this=_cursor(exp.Coalesce(this=column("tx"), expressions=[exp.Literal.number(0)]), column("position"))
        ),
    )
    return _lag_select(written, after)


def _cursor(*columns: exp.Expression) -> exp.Select:
    return (
        exp.select(*columns).from_(table(CURSORS_TABLE)).where(column("name").eq(exp.Literal.string(DELIVERY_CURSOR)))
    )


def flag_lag_query(written: str, dispatched: str) -> str:
    """Events whose dispatched column is still NULL."""
    return _lag_select(written, exp.Is(this=column(dispatched), expression=exp.Null()))


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
        rows = await pool.fetch(_COLUMNS, OUTBOX_TABLE, CURSORS_TABLE)
        names = {row["column_name"] for row in rows if row["table_name"] == OUTBOX_TABLE}
        cursors = {row["column_name"] for row in rows if row["table_name"] == CURSORS_TABLE}
        written = next((name for name in WRITTEN_COLUMNS if name in names), None)
        dispatched = next((name for name in DISPATCHED_COLUMNS if name in names), None)
        if written is not None and "id" in names and {"name", "position"} <= cursors:
            return cursor_lag_query(written, ordered="tx" in names and "tx" in cursors)
        if written is not None and dispatched is not None:
            return flag_lag_query(written, dispatched)
        if names:
            log.debug("outbox lag unavailable: %s has no known time/delivery columns", OUTBOX_TABLE)
        return None
