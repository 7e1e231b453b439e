"""The retired ids this process knows, so an authenticated request needs no query to check its caller.

One dedicated connection per process LISTENs on `resource_engine_identity` (retire() notifies
inside the deleting transaction, so the notice arrives exactly when the retirement commits) and,
once listening, loads the whole table. From then on the set answers. Whenever it cannot answer
for sure (before the first load, while the connection is down, until the reload after a
reconnect, or when the table outgrows MAX_KNOWN) `retired()` answers None and the caller queries
the table, as it did on every request before: a lost listener costs a query, never a revocation.

The deleting request's own process adds the id as soon as its commit is confirmed (see the
plugin), without waiting for its own notice; other processes add it when the notice arrives,
which PostgreSQL sends at commit.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from sqlglot import exp

from engine.db.pool import connect
from engine.features.accounts.retired import CHANNEL, TABLE
from engine.sql.compiled import compile_expression
from engine.sql.ddl import column, table
from engine.sql.notify import CURRENT_SCHEMA

log = logging.getLogger("engine.accounts")
RETRY_EVERY = (0.2, 0.5, 1.0, 2.0, 5.0)  # seconds between reconnect attempts, the last one repeating
MAX_KNOWN = 1_000_000  # beyond this many retired ids the set would cost more memory than the query saves
_ALL = compile_expression(exp.select(column("user_id")).from_(table(TABLE)).limit(MAX_KNOWN + 1))
_SCHEMA = compile_expression(exp.select(CURRENT_SCHEMA.copy()))


class KnownRetired:
    """The retired ids of one schema, kept current by LISTEN; None from `retired()` means "ask the table"."""

    def __init__(self, url: str, schema: str | None):
        self.url, self.schema = url, schema
        self.conn: asyncpg.Connection | None = None
        self._ids: set[str] | None = None  # None while the set cannot answer for sure
        self._schema_name = ""
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self.loads = 0  # complete loads of the table, for tests and operators

    @property
    def answering(self) -> bool:
        return self._ids is not None

    def retired(self, user_id: str) -> bool | None:
        """True or False when the set knows; None when the caller must query the table."""
        ids = self._ids
        return None if ids is None else user_id in ids

    def add(self, user_id: str) -> None:
        """A retirement this process saw commit (its own delete): known before its notice arrives."""
        if self._ids is not None:
            self._ids.add(user_id)

    async def start(self) -> None:
        try:
            await self._connect()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("retired-user listener could not connect (checking the table per request): %r", exc)
            self._reconnect_later()

    async def stop(self) -> None:
        self._stopped = True
        self._ids = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.conn is not None and not self.conn.is_closed():
            await self.conn.close()

    async def _connect(self) -> None:
        conn = await connect(self.url, schema=self.schema)
        pending: set[str] = set()
        try:
            self._schema_name = await conn.fetchval(_SCHEMA.sql)
            # Listen first, then load: a retirement committed during the load is in the load or
            # arrives as a notice (both add to the same set), never in neither.
            await conn.add_listener(CHANNEL, lambda *args: self._notified(pending, *args))
            rows = await conn.fetch(_ALL.sql)
        except BaseException:
            await conn.close()
            raise
        self.conn = conn
        conn.add_termination_listener(self._lost)
        if conn.is_closed():  # lost before the listener above could hear it
            self._lost(conn)
        elif len(rows) > MAX_KNOWN:
            log.warning("more than %d retired users: checking the table per request", MAX_KNOWN)
        else:
            pending.update(row[0] for row in rows)
            self._ids = pending
            self.loads += 1

    def _notified(self, loading: set[str], conn: Any, pid: int, channel: str, payload: str) -> None:
        schema, _, user_id = payload.partition(":")
        if schema != self._schema_name:
            return
        target = self._ids if self._ids is not None else loading
        target.add(user_id)
        if len(target) > MAX_KNOWN:
            self._ids = None

    def _lost(self, conn: Any) -> None:
        self._ids = None  # notices may be missed from now on: ask the table until reloaded
        self.conn = None
        if not self._stopped:
            log.warning("retired-user listener lost its connection; checking the table per request until it is back")
            self._reconnect_later()

    def _reconnect_later(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        attempt = 0
        while not self._stopped:
            await asyncio.sleep(RETRY_EVERY[min(attempt, len(RETRY_EVERY) - 1)])
            attempt += 1
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                continue
            if self.conn is not None:
                log.warning("retired-user listener reconnected")
                return
