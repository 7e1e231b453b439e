"""In-process fan-out of committed events to stream subscribers, each behind a bounded buffer.

The dispatcher hands every event to every subscriber without waiting: a subscriber whose buffer
is full is closed ("too slow") instead of slowing the others, the dispatcher or any writer. The
client reconnects with Last-Event-ID and catches up from the table.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable

from engine.features.events.payload import Event
from engine.features.events.waiting import wait_set

log = logging.getLogger("engine.events")

TOO_SLOW = "too slow: the buffer of unsent events is full; reconnect with Last-Event-ID"
SHUTTING_DOWN = "the server is shutting down; reconnect with Last-Event-ID"
REPLAY_LIMIT = "replay limit reached; reconnect with Last-Event-ID for the rest"


class Subscriber:
    """One open stream: its buffer of events not yet sent, and why it was closed, if it was."""

    def __init__(self, resources: frozenset[str] | None, limit: int):
        self.resources = resources  # None: every resource
        self.limit = limit
        self.buffer: deque[Event] = deque()
        self.ready = asyncio.Event()
        self.catching_up = False  # replaying from the table: the buffer may be dropped and re-read
        self.missed = False  # events were dropped while catching up
        self.closed: str | None = None
        self.on_close: Callable[[], None] | None = None  # aborts a write blocked on a stalled client

    def offer(self, events: list[Event]) -> None:
        """One batch the dispatcher read. Too slow means a full buffer when the batch arrives: a
        reader that keeps up empties it between batches, however many events one batch holds."""
        if self.closed:
            return
        wanted = events if self.resources is None else [e for e in events if e.resource in self.resources]
        if not wanted:
            return
        if len(self.buffer) >= self.limit:
            if self.catching_up:  # the table has them all: drop, and read them from there again
                self.buffer.clear()
                self.missed = True
                return
            self.close(TOO_SLOW)
            return
        self.buffer.extend(wanted)
        self.ready.set()

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = reason
        self.ready.set()
        if self.on_close is not None:
            self.on_close()

    async def next_batch(self, idle: float) -> list[Event] | None:
        """Everything buffered, waiting up to `idle` seconds; None when nothing came (time for a keep-alive)."""
        if not self.buffer and not self.closed and not await wait_set(self.ready, idle):
            return None
        self.ready.clear()
        batch = list(self.buffer)
        self.buffer.clear()
        return batch


class Hub:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.position: tuple[int, int] = (0, 0)  # of the last event published (positions.py)
        self.dropped = 0  # subscribers closed for being too slow, since start
        self.streams_per_user: Counter[str] = Counter()  # open streams, until their handler ends
        self.closed: str | None = None  # set by close_all: a stream opened afterwards ends at once

    def subscribe(self, resources: frozenset[str] | None, limit: int) -> Subscriber:
        subscriber = Subscriber(resources, limit)
        if self.closed:  # shutting down: the client reconnects (elsewhere) after the retry hint
            subscriber.close(self.closed)
        else:
            self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def claim_stream(self, user_id: str, cap: int) -> bool:
        """Count one more open stream of `user_id`, unless `cap` are open already (no await in
        between, so concurrent requests cannot both take the last slot)."""
        if self.streams_per_user[user_id] >= cap:
            return False
        self.streams_per_user[user_id] += 1
        return True

    def release_stream(self, user_id: str) -> None:
        """The stream claimed by `claim_stream` ended (once per claim)."""
        self.streams_per_user[user_id] -= 1
        if self.streams_per_user[user_id] <= 0:
            del self.streams_per_user[user_id]

    def publish(self, events: list[Event]) -> None:
        if not events:
            return
        for subscriber in tuple(self.subscribers):
            subscriber.offer(events)
            if subscriber.closed == TOO_SLOW:
                self.subscribers.discard(subscriber)
                self.dropped += 1
                log.warning("closed an event stream: %s (events from id=%d)", TOO_SLOW, events[0].id)
        self.position = events[-1].position

    def close_all(self, reason: str) -> None:
        self.closed = reason
        for subscriber in tuple(self.subscribers):
            subscriber.close(reason)
        self.subscribers.clear()
