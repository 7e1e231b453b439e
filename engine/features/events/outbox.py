"""The transactional outbox: every write's events are rows inserted in the write's own transaction.

So an event exists exactly when its change does: a rolled-back write (a failing hook, a
constraint, a crash) leaves no event, and a committed one always has its events.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import asyncpg

from engine.features.events.cascade import Affected, CascadeWalker
from engine.features.events.inline import written_inline
from engine.features.events.payload import PAST_TENSE, PendingEvent, emits, pending
from engine.features.events.tables import INSERT_EVENT
from engine.kernel.identity import Identity
from engine.kernel.plugins import hookimpl
from engine.spec import Resource, Spec

# Rows a delete will take with it, found in before_write and turned into events in after_write.
# Both hooks run in the request's task, so a context variable carries them without shared state.
_CASCADES: ContextVar[dict[tuple[str, int], tuple[dict, list[Affected]]] | None] = ContextVar(
    "engine_event_cascades", default=None
)


async def write_events(conn: asyncpg.Connection, events: list[PendingEvent]) -> None:
    """Insert `events` in order, inside the caller's transaction, and NOTIFY listeners at commit."""
    if len(events) == 1:
        await conn.execute(INSERT_EVENT.sql, *INSERT_EVENT.args(events[0].values()))
        return
    await conn.executemany(INSERT_EVENT.sql, [INSERT_EVENT.args(event.values()) for event in events])


class Outbox:
    """The write hooks, registered once per app (they need the whole spec to follow references)."""

    def __init__(self, spec: Spec):
        self.walker = CascadeWalker(spec)
        self.inline_ready = False  # set once every manager folds events into lone writes
        self.on_written: Callable[[], None] | None = None  # wakes readers after a lone write (dispatcher.written)

    @hookimpl(trylast=True)
    def write_needs_transaction(self, action: str) -> bool:
        """Creates and updates fold their event into their own statement (events/inline.py)."""
        return action == "delete" or not self.inline_ready

    @hookimpl(trylast=True)
    async def before_write(
        self, conn: asyncpg.Connection, resource: Resource, action: str, previous: dict[str, Any] | None
    ) -> None:
        if action != "delete" or previous is None or not self.walker.needed(resource):
            return
        affected = await self.walker.walk(conn, resource, previous)
        cascades = _CASCADES.get()
        if cascades is None:
            cascades = {}
            _CASCADES.set(cascades)
        cascades[(resource.name, id(previous))] = (previous, affected)

    @hookimpl(trylast=True)
    async def after_write(
        self,
        conn: asyncpg.Connection,
        resource: Resource,
        action: str,
        record: dict[str, Any],
        previous: dict[str, Any] | None,
        identity: Identity | None,
    ) -> None:
        if written_inline(record):
            if self.on_written is not None:
                self.on_written()
            return
        events = [
            pending(a.resource, a.action, a.after, a.before, identity)
            for a in self._cascaded(resource, action, previous)
            if emits(a.resource, a.action)
        ]
        past = PAST_TENSE[action]
        if emits(resource, past):
            events.append(pending(resource, past, record, previous, identity))
        if events:
            await write_events(conn, events)

    def _cascaded(self, resource: Resource, action: str, previous: dict[str, Any] | None) -> list[Affected]:
        cascades = _CASCADES.get()
        if action != "delete" or previous is None or not cascades:
            return []
        entry = cascades.pop((resource.name, id(previous)), None)
        return entry[1] if entry is not None and entry[0] is previous else []
