"""The LISTEN connection: one per process, dedicated (never from the pool), reconnecting forever.

It wakes the dispatcher on every NOTIFY from a committing writer (in any process), sends this
process's own coalesced notices (`announce`), and holds the session-level leader lock that makes
exactly one process deliver to on_event handlers. When the connection drops, leadership goes with
it (PostgreSQL releases the lock) and another process, or this one after reconnecting, takes over
from the durable position.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg
from sqlglot import exp

from engine.features.events.tables import CHANNEL, NOTIFY, TRY_LEADER
from engine.features.events.waiting import wait_set
from engine.sql.compiled import compile_expression

log = logging.getLogger("engine.events")
APPLICATION_NAME = "resource-engine-events"  # how the connection shows in pg_stat_activity
PING = compile_expression(exp.select(exp.Literal.number(1)))
FIRST_RETRY = 0.05


class Listener:
    def __init__(
        self,
        url: str,
        schema: str | None,
        *,
        on_notify: Callable[[], None],
        on_leader: Callable[[bool], None],
        interval: float,
    ):
        self.url, self.schema = url, schema
        self.on_notify, self.on_leader = on_notify, on_leader
        self.interval = interval  # ping / leader retry period, and the longest reconnect delay
        self.connected = asyncio.Event()
        self.leader = False
        self.pid: int | None = None  # the server process of the current connection (for operators and tests)
        self._conn: asyncpg.Connection | None = None
        self._busy = asyncio.Lock()  # one statement at a time on the connection: pings and notices

    async def announce(self) -> bool:
        """NOTIFY every listening process (this one included); False when not connected."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        async with self._busy:
            await conn.execute(NOTIFY.sql)
        return True

    def _settings(self) -> dict[str, str]:
        settings = {"application_name": APPLICATION_NAME}
        if self.schema:
            settings["search_path"] = self.schema
        return settings

    def _set_leader(self, leader: bool) -> None:
        if leader != self.leader:
            self.leader = leader
            log.info("this process %s delivering events to on_event handlers", "is now" if leader else "stopped")
            self.on_leader(leader)

    async def run(self) -> None:
        delay = FIRST_RETRY
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.url, server_settings=self._settings())
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _, dropped=lost: dropped.set())
                await conn.add_listener(await conn.fetchval(CHANNEL.sql), lambda *_: self.on_notify())
                self.pid = conn.get_server_pid()
                self._conn = conn
                self.connected.set()
                delay = FIRST_RETRY
                self.on_notify()  # anything committed while we were not listening
                await self._hold(conn, lost)
                log.warning("the event listener connection was lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # whatever went wrong, the listener must come back
                log.warning("event listener: %r; reconnecting in %.2fs", exc, delay)
            finally:
                self._conn = None
                self.connected.clear()
                self._set_leader(False)
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.interval)

    async def _hold(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Until the connection drops: try for leadership (or ping) every interval."""
        while not lost.is_set():
            async with self._busy:
                if self.leader:
                    await conn.fetchval(PING.sql)
                    won = False
                else:
                    won = await conn.fetchval(TRY_LEADER.sql)
            if won:
                self._set_leader(True)
            await wait_set(lost, self.interval)
