"""The transactional outbox: every write's events are rows inserted in the write's own transaction.

So an event exists exactly when its change does: a rolled-back write (a failing hook, a
constraint, a crash) leaves no event, and a committed one always has its events.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson

from engine.features.events.cascade import CascadeWalker
from engine.features.events.inline import EventFold, InlineEvents
from engine.features.events.payload import PAST_TENSE, PendingEvent, emits, pending
from engine.features.events.tables import INSERT_EVENT, INSERT_EVENTS
from engine.kernel.hooks import hookimpl
from engine.kernel.identity import Identity
from engine.resources.context import WriteContext
from engine.spec import Resource, Spec

CASCADES = "events.cascades"  # WriteContext.notes: the rows a delete takes with it, from before_write
OUTBOX_ROWS = "events.outbox"  # WriteSet key: the events of a set-based write's rows
WOKEN = "events.woken"  # WriteSet key: readers woken once after a bulk statement that wrote its events


def _json_text(value: Any) -> str | None:
    """A payload as JSON text, as the pool's jsonb codec writes it (engine.db.pool)."""
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits: valid JSON, stored as PostgreSQL numeric
        return json.dumps(value)


async def write_events(conn: asyncpg.Connection, events: list[PendingEvent]) -> None:
    """Insert `events` in order, inside the caller's transaction, and NOTIFY listeners at commit:
    one statement however many (a set-based write's, a delete's cascade)."""
    if not events:
        return
    if len(events) == 1:
        await conn.execute(INSERT_EVENT.sql, *INSERT_EVENT.args(events[0].values()))
        return
    arrays = {
        "resource": [e.resource for e in events],
        "action": [e.action for e in events],
        "record_id": [e.record_id for e in events],
        "actor": [e.actor for e in events],
        "data": [_json_text(e.data) for e in events],
        "changes": [_json_text(e.changes) for e in events],
    }
    await conn.execute(INSERT_EVENTS.sql, *INSERT_EVENTS.args(arrays))


class Outbox:
    """The write hooks, registered once per app (they need the whole spec to follow references)."""

    def __init__(self, spec: Spec):
        self.walker = CascadeWalker(spec)
        self.inline = {name: InlineEvents(resource) for name, resource in spec.resources.items()}
        self.on_written: Callable[[], None] | None = None  # wakes readers after a lone write (dispatcher.written)

    @hookimpl(trylast=True)
    def write_needs_transaction(self, action: str) -> bool:
        """Creates and updates fold their event into their own statement (events/inline.py)."""
        return action == "delete"

    @hookimpl(trylast=True)
    def write_needs_previous(self) -> None:
        """Never: an update's `changes` come from the row as it was, in SQL or from the locked read."""
        return None

    @hookimpl(trylast=True)
    def fold_into_write(self, resource: Resource, action: str) -> EventFold | None:
        inline = self.inline[resource.name]
        return EventFold(inline, action) if inline.emits(action) else None

    @hookimpl(trylast=True)
    def before_write(
        self, context: WriteContext, resource: Resource, action: str, previous: dict[str, Any] | None
    ) -> Awaitable[None] | None:
        """Only a delete has work here (its cascade): a create or update of each row of a bulk
        write gets its None at once, with no coroutine to await."""
        if action != "delete" or previous is None or not self.walker.needed(resource):
            return None
        return self._note_cascades(context, resource, previous)

    async def _note_cascades(self, context: WriteContext, resource: Resource, previous: dict[str, Any]) -> None:
        context.notes[CASCADES] = await self.walker.walk(context.conn, resource, previous)

    @hookimpl(trylast=True)
    def after_write(
        self,
        context: WriteContext,
        resource: Resource,
        action: str,
        record: dict[str, Any],
        previous: dict[str, Any] | None,
        identity: Identity | None,
    ) -> Awaitable[None] | None:
        """The events the statement did not write itself; after a folded one (written already),
        a wake-up for readers: once for all the rows of a bulk write, which one statement wrote."""
        if context.folded(EventFold):
            if self.on_written is not None and context.write_set is not None:
                context.write_set.defer(WOKEN, self._woken, ())
            elif self.on_written is not None:
                self.on_written()
            return None
        return self._write(context, resource, action, record, previous, identity)

    async def _woken(self, conn: asyncpg.Connection, rows: list[Any]) -> None:
        if self.on_written is not None:
            self.on_written()

    async def _write(
        self,
        context: WriteContext,
        resource: Resource,
        action: str,
        record: dict[str, Any],
        previous: dict[str, Any] | None,
        identity: Identity | None,
    ) -> None:
        events = [
            pending(a.resource, a.action, a.after, a.before, identity)
            for a in context.notes.pop(CASCADES, ())
            if emits(a.resource, a.action)
        ]
        past = PAST_TENSE[action]
        if emits(resource, past):
            events.append(pending(resource, past, record, previous, identity))
        if events and context.write_set is not None:  # one of many rows: one INSERT for all at the end
            context.write_set.defer(OUTBOX_ROWS, write_events, events)
        elif events:
            await write_events(context.conn, events)
