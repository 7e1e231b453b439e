"""Delivery to `on_event` handlers: after commit, at least once, in order per record, never in a request.

One process of the cluster delivers (the holder of the leader lock, see listener.py), from a
durable position in `_engine_event_cursors`, so every handler sees each event once per cluster
in normal operation and again only after a crash (at least once). Each handler has lanes;
events of one record always share a lane and are handled one after another, so a failing or slow
record holds back only its own lane. A failure is retried with exponential backoff; after the
last retry it is stored in `_engine_event_failures` and reported to the `on_error` hook.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg
import pluggy

from engine.features.events import positions
from engine.features.events.payload import Event
from engine.features.events.positions import Position
from engine.features.events.settings import EventSettings
from engine.features.events.tables import HANDLERS_CURSOR, INSERT_FAILURE, SELECT_AFTER
from engine.features.events.waiting import wait_set
from engine.kernel.event import Event as HandlerEvent
from engine.kernel.event import HandlerFailed
from engine.kernel.hooks import call_all

log = logging.getLogger("engine.events")
MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class Handler:
    name: str
    function: Callable[..., Any]

    async def __call__(self, event: HandlerEvent, threads: ThreadPoolExecutor) -> None:
        if inspect.iscoroutinefunction(self.function):
            result = await self.function(event=event)
        else:  # a plain function may block: run it on the handlers' own threads, never the event loop
            result = await asyncio.get_running_loop().run_in_executor(threads, partial(self.function, event=event))
        if inspect.isawaitable(result):
            await result


def _name(impl: pluggy.HookImpl) -> str:
    """A stable name for the failures table: the plugin's name, or its class for unnamed objects."""
    if not impl.plugin_name.isdigit():
        return impl.plugin_name
    cls = impl.plugin if isinstance(impl.plugin, type) else type(impl.plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


def handlers_of(pm: pluggy.PluginManager) -> list[Handler]:
    return [
        Handler(_name(impl), impl.function)
        for impl in reversed(pm.hook.on_event.get_hookimpls())
        if not (impl.wrapper or impl.hookwrapper)
    ]


class Delivery:
    """Runs while this process leads; `start`/`stop` follow the leader lock."""

    def __init__(self, pool: asyncpg.Pool, pm: pluggy.PluginManager, settings: EventSettings):
        self.pool, self.pm, self.settings = pool, pm, settings
        self.handlers = handlers_of(pm)
        self.wake = asyncio.Event()
        self._term: asyncio.Task | None = None
        # Plain-function handlers get threads of their own: a handler stuck in a blocking call can
        # then never starve the loop's default executor (DNS lookups for new connections use it).
        self.threads = ThreadPoolExecutor(settings.handler_lanes, thread_name_prefix="engine-events-handler")

    def notify(self) -> None:
        self.wake.set()

    @property
    def leading(self) -> bool:
        return self._term is not None and not self._term.done()

    def start(self) -> None:
        if not self.leading:
            self._term = asyncio.create_task(self._lead(), name="engine-events-delivery")

    async def _lead(self) -> None:
        """Deliver until stopped; a term that fails (the database went away) starts over from the position."""
        while True:
            try:
                await (_Term(self).run() if self.handlers else self._hold_position())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event delivery stopped: %r; starting again from the saved position", exc)
                await asyncio.sleep(self.settings.poll_interval)

    async def _hold_position(self) -> None:
        """No handler is registered: nothing to read per event. The position moves to the newest event
        once per term, so handlers added in a later release start from about then, not from history."""
        newest = await positions.start(self.pool)
        await positions.save_cursor(self.pool, HANDLERS_CURSOR, newest)
        log.info("no on_event handlers: delivery idle from transaction %d on", newest[0])
        await asyncio.Event().wait()  # until leadership ends (cancelled)

    async def stop(self) -> None:
        """Stop delivering (leadership lost, or shutting down); `close` also ends the threads."""
        term, self._term = self._term, None
        if term is not None:
            term.cancel()
            await asyncio.gather(term, return_exceptions=True)

    async def close(self) -> None:
        await self.stop()
        self.threads.shutdown(wait=False, cancel_futures=True)


class _Term:
    """One stretch of leadership: read events from the durable position, hand them to lanes."""

    def __init__(self, delivery: Delivery):
        self.d = delivery
        self.settings = delivery.settings
        self.pending: dict[Position, int] = {}  # event position -> handlers still to finish (in order)
        self.fetched: Position = (0, 0)
        self.saved: Position = (0, 0)
        self.dirty = asyncio.Event()
        self.lanes: dict[tuple[int, int], asyncio.Queue[Event]] = {}
        self.tasks: list[asyncio.Task] = []

    async def run(self) -> None:
        try:
            await positions.init_cursor(self.d.pool, HANDLERS_CURSOR)
            self.fetched = self.saved = await positions.load_cursor(self.d.pool, HANDLERS_CURSOR) or (0, 0)
            for h in range(len(self.d.handlers)):
                for lane in range(self.settings.handler_lanes):
                    queue: asyncio.Queue[Event] = asyncio.Queue()
                    self.lanes[(h, lane)] = queue
                    self.tasks.append(asyncio.create_task(self._lane(self.d.handlers[h], queue)))
            self.tasks.append(asyncio.create_task(self._saver()))
            log.info("delivering events to %d on_event handler(s) after id %d", len(self.d.handlers), self.fetched[1])
            await self._feed()
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _feed(self) -> None:
        limit, retry = self.settings.batch_size, positions.BLOCKED_RETRY
        while True:
            full = blocked = False
            if len(self.pending) < 4 * limit:
                try:
                    rows = await self.d.pool.fetch(
                        SELECT_AFTER.sql, *SELECT_AFTER.args(positions.after(self.fetched, limit))
                    )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("could not read events for delivery: %r", exc)
                    rows = []
                events, blocked = positions.settled(rows)
                for event in events:
                    self._dispatch(event)
                full = len(rows) == limit and not blocked
                self._advance()
            if blocked:  # a committed event waits for an older transaction: look again soon, whatever wakes us
                await asyncio.sleep(retry)
                retry = positions.next_retry(retry, self.settings.poll_interval)
            elif not full:
                retry = positions.BLOCKED_RETRY
                await wait_set(self.d.wake, self.settings.poll_interval)
            self.d.wake.clear()

    def _dispatch(self, event: Event) -> None:
        self.fetched = event.position
        if not self.d.handlers:
            return
        self.pending[event.position] = len(self.d.handlers)
        lane = hash((event.resource, event.record_id)) % self.settings.handler_lanes
        for h in range(len(self.d.handlers)):
            self.lanes[(h, lane)].put_nowait(event)

    def _finished(self, event: Event) -> None:
        left = self.pending[event.position] - 1
        if left:
            self.pending[event.position] = left
            return
        del self.pending[event.position]
        self._advance()
        self.d.wake.set()  # room for more in flight

    def _position(self) -> Position:
        """The durable position: every event up to it has finished with every handler."""
        if not self.pending:
            return self.fetched
        tx, event_id = next(iter(self.pending))
        return (tx, event_id - 1)  # just before the oldest unfinished event

    def _advance(self) -> None:
        if self._position() > self.saved:
            self.dirty.set()

    async def _saver(self) -> None:
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            position = self._position()
            try:
                await positions.save_cursor(self.d.pool, HANDLERS_CURSOR, position)
                self.saved = position
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("could not save the event delivery position: %r", exc)
                await asyncio.sleep(self.settings.poll_interval)
                self.dirty.set()

    async def _lane(self, handler: Handler, queue: asyncio.Queue[Event]) -> None:
        while True:
            event = await queue.get()
            await self._deliver(handler, event)
            self._finished(event)

    async def _deliver(self, handler: Handler, event: Event) -> None:
        attempts = 1 + self.settings.retries
        for attempt in range(1, attempts + 1):
            try:
                async with asyncio.timeout(self.settings.handler_timeout):
                    await handler(HandlerEvent.from_json(event.json), self.d.threads)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt == attempts:
                    await self._give_up(handler, event, attempts, exc)
                    return
                delay = min(self.settings.retry_backoff * 2 ** (attempt - 1), MAX_BACKOFF)
                log.warning(
                    "on_event handler %s failed for event id=%d (attempt %d of %d), retrying in %.2fs: %r",
                    handler.name,
                    event.id,
                    attempt,
                    attempts,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)

    async def _give_up(self, handler: Handler, event: Event, attempts: int, error: Exception) -> None:
        text = "".join(traceback.format_exception(error))
        try:
            values = {"event_id": event.id, "handler": handler.name, "error": text, "attempts": attempts}
            await self.d.pool.execute(INSERT_FAILURE.sql, *INSERT_FAILURE.args(values))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.error("could not store the failure of handler %s for event id=%d: %r", handler.name, event.id, exc)
        failure = HandlerFailed(HandlerEvent.from_json(event.json), handler.name, attempts, error)
        try:
            await call_all(self.d.pm.hook.on_error, request=None, error=failure)
        except Exception:
            log.exception("an on_error hook failed while reporting %s", failure)
