"""Positions in the event order, and reading events up to the horizon (see tables.py).

A position is (tx, id): the writing transaction and the event id of the last event a reader
handled. Events are handed out in that order and only once *settled* (below the horizon), so a
transaction that commits late can never land behind a position a reader has already passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from engine.features.events.payload import Event
from engine.features.events.tables import (
    INIT_CURSOR,
    LOAD_CURSOR,
    POSITION_AFTER_ID,
    POSITION_OF,
    SAVE_CURSOR,
    SNAPSHOT,
    START,
)

Position = tuple[int, int]

# Reading again while a committed event waits for an older transaction: after BLOCKED_RETRY, then
# doubling up to BLOCKED_MAX (any transaction anywhere on the server can be the older one; almost
# all end within milliseconds, and a long one only delays events, never loses them).
BLOCKED_RETRY = 0.02  # seconds
BLOCKED_MAX = 0.5  # seconds
Executor = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class Snapshot:
    """The transactions that had committed when a reader began "from now on".

    A position alone cannot say it: an event committed before the reader began but behind an older
    transaction still running has not settled yet, so it lies past the start position and would
    be handed out later as if it were new.
    """

    xmin: int
    xmax: int
    running: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, running = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in running.split(",") if x))

    def committed_before(self, tx: int) -> bool:
        return tx < self.xmin or (tx < self.xmax and tx not in self.running)


async def start_snapshot(db: Executor) -> tuple[Position, Snapshot]:
    """`start`, with the snapshot that tells the events committed before it from the later ones."""
    snapshot = Snapshot.parse(await db.fetchval(SNAPSHOT.sql))
    return (snapshot.xmin, 0), snapshot


async def start(db: Executor) -> Position:
    """Past every event already settled: where a reader following "from now on" begins."""
    return (await db.fetchval(START.sql), 0)


async def of_event(db: Executor, event_id: int) -> Position | None:
    """The position of an event by its id; None when the outbox holds no such event (any more)."""
    row = await db.fetchrow(POSITION_OF.sql, event_id)
    return (row["tx"], row["id"]) if row is not None else None


def after(position: Position, limit: int) -> dict[str, Any]:
    """The values of a read after `position` (tables.SELECT_AFTER, select_after_where)."""
    return {"after_tx": position[0], "after_id": position[1], "limit": limit}


def settled(rows: list[Any]) -> tuple[list[Event], bool]:
    """The events of `rows` that may be handed out, and whether an unsettled one stopped the run.

    Rows come in (tx, id) order, so the settled ones form a prefix. A committed but unsettled event
    waits for an older transaction that is still running; the caller reads again shortly.
    """
    events = []
    for row in rows:
        if not row["settled"]:
            return events, True
        events.append(Event.from_row(row))
    return events, False


def next_retry(retry: float, poll_interval: float) -> float:
    return min(retry * 2, BLOCKED_MAX, poll_interval)


async def load_cursor(db: Executor, name: str) -> Position | None:
    row = await db.fetchrow(LOAD_CURSOR.sql, name)
    if row is None:
        return None
    if row["tx"] is not None:
        return (row["tx"], row["position"])
    # Saved by a release that ordered events by id alone: every later id is still to come.
    return (await db.fetchval(POSITION_AFTER_ID.sql, row["position"]), row["position"])


async def save_cursor(db: Executor, name: str, position: Position) -> None:
    await db.execute(SAVE_CURSOR.sql, *SAVE_CURSOR.args({"name": name, "tx": position[0], "position": position[1]}))


async def init_cursor(db: Executor, name: str) -> None:
    """Create the cursor at "from now on" unless it exists."""
    tx, event_id = await start(db)
    await db.execute(INIT_CURSOR.sql, *INIT_CURSOR.args({"name": name, "tx": tx, "position": event_id}))
