"""The per-process event pump: committed events from the table to this process's streams.

Woken by this process's own writes, by the listener's NOTIFY (from writers in any process) and by
a periodic poll in case a notification was lost, it reads `_engine_events` after its position, in
(tx, id) order and up to the horizon (positions.py), and publishes to the hub. It also starts and
stops handler delivery as this process gains or loses the lead.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from engine.features.events import positions
from engine.features.events.delivery import Delivery
from engine.features.events.hub import SHUTTING_DOWN, Hub
from engine.features.events.listener import Listener
from engine.features.events.settings import EventSettings
from engine.features.events.tables import SELECT_AFTER, SELECT_AFTER_LIGHT
from engine.features.events.waiting import wait_set
from engine.kernel.logs import log_fast

log = logging.getLogger("engine.events")
# After a read that found events, wait this long before the next: under a stream of writes one
# read then carries many events instead of one read per write's NOTIFY.
BATCH_PAUSE = 0.02  # seconds
# A single-statement write's NOTIFY is sent after it (see written): at most one per this gap.
ANNOUNCE_GAP = 0.01  # seconds


class Dispatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        url: str,
        schema: str | None,
        hub: Hub,
        delivery: Delivery,
        settings: EventSettings,
    ):
        self.pool, self.hub, self.delivery, self.settings = pool, hub, delivery, settings
        self.wake = asyncio.Event()
        self.listener = Listener(
            url, schema, on_notify=self.notify, on_leader=self._leadership, interval=settings.poll_interval
        )
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._announcing: asyncio.Task | None = None
        self._announce_again = False

    def notify(self) -> None:
        self.wake.set()
        self.delivery.notify()

    def written(self) -> None:
        """A write committed its event without a transaction of ours to carry a NOTIFY (events/inline.py).

        Wake this process at once and the others through the listener, coalesced: PostgreSQL
        serializes the commits of notifying transactions, so one NOTIFY per write would make
        writes commit one at a time.
        """
        self.notify()
        if self._announcing is not None and not self._announcing.done():
            self._announce_again = True
            return
        self._announcing = asyncio.create_task(self._announce(), name="engine-events-announce")

    async def _announce(self) -> None:
        while True:
            self._announce_again = False
            try:
                await self.listener.announce()
            except Exception as exc:  # the others still poll; the listener reconnects on its own
                log.debug("could not announce new events: %r", exc)
            await asyncio.sleep(ANNOUNCE_GAP)
            if not self._announce_again:
                return

    def _leadership(self, leader: bool) -> None:
        if leader:
            self.delivery.start()
        elif not self._stopping:
            self._tasks.append(asyncio.create_task(self.delivery.stop()))

    async def start(self) -> None:
        """Begin at the newest committed event; a new stream subscriber asks for older ones itself."""
        self.hub.position = await positions.start(self.pool)
        self._tasks.append(asyncio.create_task(self.listener.run(), name="engine-events-listener"))
        self._tasks.append(asyncio.create_task(self._pump(), name="engine-events-dispatcher"))
        # Serve with the listener in place when the database allows; it keeps trying if not.
        if not await wait_set(self.listener.connected, self.settings.poll_interval):
            log.warning("the event listener is not connected yet; streams fall back to polling meanwhile")

    async def stop(self) -> None:
        self._stopping = True
        self.hub.close_all(SHUTTING_DOWN)
        if self._announcing is not None:
            self._tasks.append(self._announcing)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.delivery.close()

    async def _pump(self) -> None:
        retry = positions.BLOCKED_RETRY
        while True:
            if not await wait_set(self.wake, self.settings.poll_interval):
                self.delivery.notify()  # the same fallback for handler delivery
            self.wake.clear()
            try:
                found, blocked = await self._publish_new()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away; the next wake or poll retries
                log.warning("could not read new events: %r", exc)
                continue
            if blocked:  # a committed event waits for an older transaction: look again soon, whatever wakes us
                await asyncio.sleep(retry)
                retry = positions.next_retry(retry, self.settings.poll_interval)
                self.wake.set()
                continue
            retry = positions.BLOCKED_RETRY
            if found:
                await asyncio.sleep(BATCH_PAUSE)

    async def _publish_new(self) -> tuple[int, bool]:
        """Publish what settled since the last read: how many events, and whether one had to wait.

        While no stream listens, the events are only logged and counted past: their payloads are
        not read (nor decoded). A stream that begins during such a read has the read made again."""
        limit, found = self.settings.batch_size, 0
        while True:
            light = not self.hub.subscribers
            select = SELECT_AFTER_LIGHT if light else SELECT_AFTER
            rows = await self.pool.fetch(select.sql, *select.args(positions.after(self.hub.position, limit)))
            if light and self.hub.subscribers:
                continue  # a stream began meanwhile: it needs the payloads
            events, blocked = positions.settled(rows)
            if self.delivery.leading and log.isEnabledFor(logging.INFO):  # one log line per event per cluster
                for event in events:  # log_fast: a bulk write's thousand events are a thousand lines
                    args = (event.id, event.name, event.record_id, event.actor or "-")
                    log_fast(log, logging.INFO, "event id=%d %s record_id=%s actor=%s", args, {})
            self.hub.publish(events)
            found += len(events)
            if blocked or len(rows) < limit:
                return found, blocked
