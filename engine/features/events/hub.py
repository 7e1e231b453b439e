"""In-process fan-out of committed events to stream subscribers, each behind a bounded buffer.

The dispatcher hands every event to every subscriber without waiting: a subscriber whose buffer
is full is closed ("too slow") instead of slowing the others, the dispatcher or any writer. The
client reconnects with Last-Event-ID and catches up from the table.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.features.events.payload import Event
from engine.features.events.waiting import wait_set

log = logging.getLogger("engine.events")

TOO_SLOW = "too slow: the buffer of unsent events is full; reconnect with Last-Event-ID"
SHUTTING_DOWN = "the server is shutting down; reconnect with Last-Event-ID"
REPLAY_LIMIT = "replay limit reached; reconnect with Last-Event-ID for the rest"
CLIENT_GONE = "the client closed the connection"


@dataclass(eq=False)
class StreamClaim:
    """One open stream of a user, from its claim until its handler ends. `transport` is the
    connection's (None once aiohttp has seen it close); `subscriber` is set once subscribed."""

    user_id: str
    transport: Callable[[], Any]
    subscriber: Subscriber | None = None

    @property
    def client_gone(self) -> bool:
        transport = self.transport()
        return transport is None or transport.is_closing()


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
        self.streams_per_user: dict[str, set[StreamClaim]] = {}  # open streams, until their handler ends
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

    def claim_stream(self, user_id: str, cap: int, transport: Callable[[], Any]) -> StreamClaim | None:
        """One more open stream of `user_id`, unless `cap` are open already (no await in between,
        so concurrent requests cannot both take the last slot).

        At the cap, the streams whose client has gone count no more: the server lets a handler run
        on when its client leaves, and a stream waiting for events would only notice at its next
        keep-alive. Their subscribers are closed, so their handlers end now (a page reloaded twice
        in a row is not refused)."""
        held = self.streams_per_user.setdefault(user_id, set())
        if len(held) >= cap:
            for claim in [claim for claim in held if claim.client_gone]:
                held.discard(claim)
                if claim.subscriber is not None:
                    claim.subscriber.close(CLIENT_GONE)
        if len(held) >= cap:
            return None
        claim = StreamClaim(user_id, transport)
        held.add(claim)
        return claim

    def release_stream(self, claim: StreamClaim) -> None:
        """The stream of `claim` ended (a claim released at the cap already is let go again)."""
        held = self.streams_per_user.get(claim.user_id)
        if held is not None:
            held.discard(claim)
            if not held:
                del self.streams_per_user[claim.user_id]

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
