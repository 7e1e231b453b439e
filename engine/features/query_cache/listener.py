"""Cross-worker invalidation for the query cache through PostgreSQL LISTEN/NOTIFY.

Every write to a watched resource runs `pg_notify` inside its own transaction, so the notice is
delivered exactly when (and only if) the write commits, to every worker listening on the same
database, whatever process made the write. The notice carries the write's token, and the group
moves to a new generation once per write: in the writing worker after the commit, or at the first
notice to arrive, whichever comes first (with Redis, once for the whole cluster). While the
listening connection is down, the cache is bypassed (writes could be missed); on reconnect every
watched group is bumped, since anything may have changed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import asyncpg
from sqlglot import exp

from engine.db.pool import connect
from engine.features.query_cache.store import QueryCache
from engine.sql.compiled import compile_expression
from engine.sql.notify import CURRENT_SCHEMA, schema_notice

log = logging.getLogger("engine.query_cache")
CHANNEL = "resource_engine_cache"
RETRY_EVERY = (0.2, 0.5, 1.0, 2.0, 5.0)  # seconds between reconnect attempts, the last one repeating

# The payload is `<schema>:<resource>:<write>`: the schema keeps deployments sharing a database (one
# schema each) apart; the write's token lets the writer and every listener move the group only once.
NOTIFY = schema_notice("resource")
SCHEMA = compile_expression(exp.select(CURRENT_SCHEMA.copy()))


async def notify_write(conn: asyncpg.Connection, resource_name: str, write: str) -> None:
    """Inside the write's transaction: tell every worker once it commits."""
    await conn.execute(NOTIFY.sql, *NOTIFY.args({"channel": CHANNEL, "resource": f"{resource_name}:{write}"}))


class InvalidationListener:
    def __init__(self, url: str, schema: str | None, cache: QueryCache):
        self.url = url
        self.schema = schema
        self.cache = cache
        self.conn: asyncpg.Connection | None = None
        self._schema_name = ""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False
        self._notices: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        self._barriers: dict[str, asyncio.Future[None]] = {}
        self.notices = 0  # notices applied, for tests and metrics

    async def start(self) -> None:
        self._spawn(self._apply_in_order())
        try:
            await self._connect()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("query cache listener could not connect (cache bypassed until it does): %r", exc)
            self._spawn(self._reconnect())

    async def stop(self) -> None:
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.conn is not None and not self.conn.is_closed():
            await self.conn.close()

    async def _connect(self) -> None:
        conn = await connect(self.url, schema=self.schema)
        try:
            self._schema_name = await conn.fetchval(SCHEMA.sql)
            await conn.add_listener(CHANNEL, self._notified)
        except BaseException:
            await conn.close()
            raise
        conn.add_termination_listener(self._lost)
        self.conn = conn
        await self.cache.generations.bump(self.cache.watched)
        self.cache.listening = True

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        schema, _, rest = payload.partition(":")
        resource, _, write = rest.partition(":")
        if schema == self._schema_name and (resource in self._barriers or self.cache.watches(resource)):
            self._notices.put_nowait((resource, write or None))

    async def _apply_in_order(self) -> None:
        """One consumer, so notices are applied in commit order and a barrier means all before it."""
        while True:
            resource, write = await self._notices.get()
            barrier = self._barriers.pop(resource, None)
            if barrier is not None:
                if not barrier.done():
                    barrier.set_result(None)
                continue
            await self.cache.invalidate([resource], write)
            self.notices += 1

    async def settle(self, within: float = 10.0) -> None:
        """Wait until every write committed before this call has been applied here (tests use it to
        count hits without racing the notices). A notice of our own is delivered after all of those."""
        if self.conn is None or self.conn.is_closed():
            raise RuntimeError("the query cache listener is not connected")
        marker = "!" + secrets.token_hex(8)
        waiter = self._barriers[marker] = asyncio.get_running_loop().create_future()
        await self.conn.execute(NOTIFY.sql, *NOTIFY.args({"channel": CHANNEL, "resource": marker}))
        async with asyncio.timeout(within):
            await waiter

    def _lost(self, conn: Any) -> None:
        self.cache.listening = False
        if not self._stopped:
            log.warning("query cache listener lost its connection; cache bypassed until it reconnects")
            self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        attempt = 0
        while not self._stopped:
            await asyncio.sleep(RETRY_EVERY[min(attempt, len(RETRY_EVERY) - 1)])
            attempt += 1
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                continue
            log.warning("query cache listener reconnected")
            return

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
