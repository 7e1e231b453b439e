"""The per-process event pump: committed events from the table to this process's streams.

Woken by the listener's NOTIFY (from writers in any process) and by a periodic poll in case a
notification was lost, it reads `_engine_events` after its position, in id order, and publishes
to the hub. It also starts and stops handler delivery as this process gains or loses the lead.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from .delivery import Delivery
from .hub import SHUTTING_DOWN, Hub
from .listener import Listener
from .payload import Event
from .settings import EventSettings
from .tables import MAX_ID, SELECT_AFTER
from .waiting import wait_set

log = logging.getLogger("engine.events")
# After a read that found events, wait this long before the next: under a stream of writes one
# read then carries many events instead of one read per write's NOTIFY.
BATCH_PAUSE = 0.02  # seconds


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

    def notify(self) -> None:
        self.wake.set()
        self.delivery.notify()

    def _leadership(self, leader: bool) -> None:
        if leader:
            self.delivery.start()
        elif not self._stopping:
            self._tasks.append(asyncio.create_task(self.delivery.stop()))

    async def start(self) -> None:
        """Begin at the newest committed event; a new stream subscriber asks for older ones itself."""
        self.hub.position = await self.pool.fetchval(MAX_ID.sql)
        self._tasks.append(asyncio.create_task(self.listener.run(), name="engine-events-listener"))
        self._tasks.append(asyncio.create_task(self._pump(), name="engine-events-dispatcher"))
        # Serve with the listener in place when the database allows; it keeps trying if not.
        if not await wait_set(self.listener.connected, self.settings.poll_interval):
            log.warning("the event listener is not connected yet; streams fall back to polling meanwhile")

    async def stop(self) -> None:
        self._stopping = True
        self.hub.close_all(SHUTTING_DOWN)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.delivery.close()

    async def _pump(self) -> None:
        while True:
            if not await wait_set(self.wake, self.settings.poll_interval):
                self.delivery.notify()  # the same fallback for handler delivery
            self.wake.clear()
            try:
                found = await self._publish_new()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away; the next wake or poll retries
                log.warning("could not read new events: %r", exc)
            else:
                if found:
                    await asyncio.sleep(BATCH_PAUSE)

    async def _publish_new(self) -> int:
        """Publish what committed since the last read; how many events that was."""
        limit, found = self.settings.batch_size, 0
        while True:
            rows = await self.pool.fetch(SELECT_AFTER.sql, self.hub.position, limit)
            events = [Event.from_row(row) for row in rows]
            if self.delivery.leading and log.isEnabledFor(logging.INFO):  # one log line per event per cluster
                for event in events:
                    log.info(
                        "event id=%d %s record_id=%s actor=%s",
                        event.id,
                        event.name,
                        event.record_id,
                        event.actor or "-",
                    )
            self.hub.publish(events)
            found += len(events)
            if len(rows) < limit:
                return found
