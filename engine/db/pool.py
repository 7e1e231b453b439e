"""The asyncpg pool: JSON codecs, statement timeout, and the problems a pool can raise."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable

import asyncpg
import orjson
from asyncpg.pool import PoolAcquireContext

from engine.db.handoff import fair
from engine.db.metrics import DB_POOL_WAIT


def _encode_json(value) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits: valid JSON, stored as PostgreSQL numeric
        return json.dumps(value)


def _decode_json(text: str):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # uuid as text: rows serialize straight to JSON, and str or uuid.UUID both bind.
    await conn.set_type_codec("uuid", schema="pg_catalog", encoder=str, decoder=str, format="text")
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, schema="pg_catalog", encoder=_encode_json, decoder=_decode_json, format="text")


def _settings(application: str, schema: str | None, statement_timeout_ms: int | None = None) -> dict[str, str]:
    settings = {"application_name": application}
    if schema:
        settings["search_path"] = schema
    if statement_timeout_ms is not None:
        settings["statement_timeout"] = str(statement_timeout_ms)
    return settings


class _Acquire(PoolAcquireContext):
    """asyncpg's acquire context, timed for engine.kernel.metrics and, when the pool has a bound, waiting at
    most that long for a free connection (then `on_exhausted` decides what to raise).

    The bound is an asyncio.timeout taken only when no connection is free: asyncpg's own timeout runs
    every acquire in a task of its own (wait_for), a cost on every query even when nothing waits.
    """

    __slots__ = ()

    async def _bounded(self):
        pool = self.pool
        started = time.perf_counter()
        try:
            if pool.acquire_timeout is None or pool._queue.qsize():  # asyncpg's queue of free holders
                connection = await pool._acquire(None)
            else:
                async with asyncio.timeout(pool.acquire_timeout):
                    connection = await pool._acquire(None)
        except TimeoutError:
            raise pool.on_exhausted(pool.acquire_timeout) from None
        finally:
            DB_POOL_WAIT.observe(time.perf_counter() - started)
        # The release gets the same budget (asyncpg reads it from the holder): returning a connection
        # whose query was cancelled waits for PostgreSQL to confirm, and a partitioned database never does.
        connection._holder._timeout = pool.acquire_timeout
        return connection

    async def __aenter__(self):
        if self.connection is not None or self.done:
            raise asyncpg.InterfaceError("a connection is already acquired")
        self.connection = await self._bounded()
        return self.connection

    def __await__(self):
        self.done = True
        return self._bounded().__await__()


class TimedPool(asyncpg.Pool):
    """asyncpg's pool, reporting how long each acquire waited for a free connection (engine.kernel.metrics),
    and bounding that wait once `bound_wait` was called (the timeouts plugin does, from start-up).

    Every query on the pool (``pool.fetch``, ``async with pool.acquire()``) goes through ``acquire``.
    No new slots: the layout is asyncpg's own, so a pool built by ``asyncpg.create_pool`` can become one;
    the bound lives on a subclass made for it (see `bound_wait`).
    """

    __slots__ = ()
    acquire_timeout: float | None = None

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        if timeout is not None:  # an explicit timeout: asyncpg's own handling
            return PoolAcquireContext(self, timeout)
        return _Acquire(self, None)

    async def release(self, connection, *, timeout: float | None = None) -> None:  # noqa: ASYNC109 (asyncpg's signature)
        """Return a connection; in the caller's task when nothing needs waiting for.

        asyncpg always releases inside asyncio.shield (a task of its own and a loop iteration per
        query) so a cancellation cannot strand a connection half-reset. With the engine's no-op
        reset, an idle connection that is not cancelling a query releases without ever suspending,
        so no cancellation can reach it: only connections with something to wait for take the shield.
        """
        con = getattr(connection, "_con", None)
        holder = getattr(connection, "_holder", None)
        if (
            con is not None
            and holder is not None
            and holder._pool is self
            and self._reset is _keep_session
            and not con.is_closed()
            and not con.is_in_transaction()
            and not con._protocol._is_cancelling()
        ):
            con._on_release()
            await holder.release(holder._timeout if timeout is None else timeout)
            return
        await super().release(connection, timeout=timeout)

    @staticmethod
    def on_exhausted(seconds: float) -> Exception:
        return TimeoutError(f"no database connection became free within {seconds:g} s")

    def bound_wait(self, seconds: float, on_exhausted: Callable[[float], Exception]) -> None:
        """From now on an acquire waits at most `seconds` for a free connection, then raises `on_exhausted(seconds)`."""
        self.__class__ = _bounded_class(TimedPool, seconds, on_exhausted)


@functools.cache
def _bounded_class(base: type, seconds: float, on_exhausted: Callable[[float], Exception]) -> type:
    attributes = {"__slots__": (), "acquire_timeout": seconds, "on_exhausted": staticmethod(on_exhausted)}
    return type(f"Bounded{base.__name__}", (base,), attributes)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's reset query (a second round trip on every request).

    Safe because the engine never leaves session state behind: settings are fixed at connect time,
    advisory locks are transaction-scoped, LISTEN uses its own connection, and asyncpg still rolls
    back an open transaction before this runs.
    """


async def create_pool(
    url: str, *, min_size: int, max_size: int, statement_timeout_ms: int, schema: str | None = None
) -> asyncpg.Pool:
    settings = _settings("resource-engine", schema, statement_timeout_ms)
    pool = asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings=settings,
    )
    pool.__class__ = TimedPool  # before it connects; asyncpg.create_pool has no pool_class parameter
    await pool
    fair(pool._queue)  # made while connecting
    return pool


async def connect(url: str, *, schema: str | None = None) -> asyncpg.Connection:
    """A single connection for migrations and CLI commands."""
    conn = await asyncpg.connect(url, server_settings=_settings("resource-engine-cli", schema))
    await _init_connection(conn)
    return conn


async def close_pool(pool: asyncpg.Pool, grace: float = 10.0) -> None:
    """Close the pool, but never hang shutdown on a connection someone failed to release.

    asyncpg's close() waits for every acquired connection to come back; a leaked one would stop the
    process from exiting. After `grace` seconds the remaining connections are terminated and the leak logged.
    """
    try:
        async with asyncio.timeout(grace):  # not wait_for: on 3.11 it can swallow a shutdown's cancel
            await pool.close()
    except TimeoutError:
        logging.getLogger("engine.db").error(
            "pool did not close within %.0f s: a connection was never released; terminating it", grace
        )
        pool.terminate()
