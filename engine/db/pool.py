"""The asyncpg pool: JSON codecs, statement timeout, and the problems a pool can raise."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson

from engine.db import asyncpg_internals as internals
from engine.db.coalesce import Coalescer
from engine.db.commit_together import WriteCombiner
from engine.db.metrics import DB_POOL_WAIT
from engine.db.pooler import NONE, PGBOUNCER

if TYPE_CHECKING:
    from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy


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


def _settings(
    application: str,
    schema: str | None,
    statement_timeout_ms: int | None = None,
    pooler: str = NONE,
    plan_cache_mode: str | None = None,
) -> dict[str, str]:
    settings = {"application_name": application}
    if pooler == PGBOUNCER:  # it refuses other startup parameters: the role sets them (engine.db.pooler)
        return settings
    if schema:
        settings["search_path"] = schema
    if statement_timeout_ms is not None:
        settings["statement_timeout"] = str(statement_timeout_ms)
    if plan_cache_mode is not None:
        # Generic plans: asyncpg prepares each statement shape once per connection, and `auto` made
        # PostgreSQL plan the access-rule queries anew on every execution (measured: 0.4 ms of
        # planning for a 0.05 ms read by primary key; bench/RESULTS.md, "Generic plans"). A generic
        # plan is made for the tables as they are then: the pool prepares each statement again
        # after ENGINE_DB_STATEMENT_LIFETIME (asyncpg's max_cached_statement_lifetime), so a plan
        # made while a table was empty does not outlive its growth.
        settings["plan_cache_mode"] = plan_cache_mode
    return settings


class _Acquire:
    """``async with pool.acquire()`` or ``await pool.acquire()``, on EnginePool's bounded acquire."""

    __slots__ = ("connection", "done", "pool")

    def __init__(self, pool: EnginePool) -> None:
        self.pool = pool
        self.connection: PoolConnectionProxy | None = None
        self.done = False

    async def __aenter__(self) -> PoolConnectionProxy:
        if self.connection is not None or self.done:
            raise asyncpg.InterfaceError("a connection is already acquired")
        self.connection = await self.pool.acquire_within_bound()
        return self.connection

    async def __aexit__(self, *exc_info: object) -> None:
        self.done = True
        connection, self.connection = self.connection, None
        await self.pool.release(connection)

    def __await__(self) -> Generator[Any, None, PoolConnectionProxy]:
        self.done = True
        return self.pool.acquire_within_bound().__await__()


class _Shared:
    """The connections one task's statements share while `one_connection()` is open: one per pool."""

    __slots__ = ("busy", "held", "owner")

    def __init__(self, owner: asyncio.Task | None) -> None:
        self.owner = owner
        self.held: dict[EnginePool, PoolConnectionProxy] = {}
        self.busy: set[EnginePool] = set()  # pools whose held connection is in an `async with` now


_SHARED: contextvars.ContextVar[_Shared | None] = contextvars.ContextVar("engine_one_connection", default=None)


@asynccontextmanager
async def one_connection() -> AsyncIterator[None]:
    """Within this block, the current task's statements on a pool share one connection of it.

    A read that embeds related rows runs a statement per include level, each a pool acquire and
    release; the read and its includes then take one connection, as a hand-written handler would.
    Only `async with pool.acquire()` (what ``pool.fetch`` and friends use) shares, and only in the
    task that opened the block: other tasks (``asyncio.gather``'s children), a nested acquire while
    the shared connection is in use, and ``await pool.acquire()`` (released by its caller) get
    their own. A statement that raises gives its connection back at once, so the next one starts
    on a fresh connection, as without the block. Every connection held is released when it ends.
    """
    shared = _Shared(asyncio.current_task())
    token = _SHARED.set(shared)
    try:
        yield
    finally:
        _SHARED.reset(token)
        await _release_all(shared.held)


def holding_connection() -> bool:
    """Whether the current task holds a connection of `one_connection()` between its statements."""
    shared = _SHARED.get()
    return shared is not None and bool(shared.held) and shared.owner is asyncio.current_task()


async def _release_all(held: dict[EnginePool, PoolConnectionProxy]) -> None:
    """Release every held connection, the rest too when one release fails."""
    while held:
        pool, connection = held.popitem()
        try:
            await pool.release(connection)
        except BaseException:
            await _release_all(held)
            raise


class _SharedAcquire:
    """``async with pool.acquire()`` inside `one_connection()`: the block's connection of this pool."""

    __slots__ = ("connection", "own", "pool", "shared")

    def __init__(self, pool: EnginePool, shared: _Shared) -> None:
        self.pool, self.shared = pool, shared
        self.connection: PoolConnectionProxy | None = None
        self.own = False

    async def __aenter__(self) -> PoolConnectionProxy:
        pool, shared = self.pool, self.shared
        if pool in shared.busy:  # nested: the caller means a second connection
            self.own = True
            self.connection = await pool.acquire_within_bound()
            return self.connection
        connection = shared.held.get(pool)
        if connection is None:
            connection = shared.held[pool] = await pool.acquire_within_bound()
        shared.busy.add(pool)
        self.connection = connection
        return connection

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        pool, connection, self.connection = self.pool, self.connection, None
        if self.own:
            await pool.release(connection)
            return
        self.shared.busy.discard(pool)
        if exc_type is not None:  # whatever went wrong, the next statement starts on a fresh connection
            del self.shared.held[pool]
            await pool.release(connection)

    def __await__(self) -> Generator[Any, None, PoolConnectionProxy]:
        return self.pool.acquire_within_bound().__await__()


class EnginePool(asyncpg.Pool):
    """asyncpg's pool, built directly by `create_pool`, with three changes that matter under load:

    - every acquire reports how long it waited for a free connection (engine.kernel.metrics), and once
      `bound_wait` was called (the timeouts plugin does, at start-up) waits at most that long;
    - a freed connection goes to the longest waiter (engine.db.handoff), set up by `create_pool`;
    - with the engine's no-op reset, an idle connection is released in the caller's task.

    Every query on the pool (``pool.fetch``, ``async with pool.acquire()``) goes through ``acquire``.
    What this needs of asyncpg's private parts is in engine.db.asyncpg_internals.
    """

    __slots__ = ("acquire_timeout", "coalescer", "combiner", "on_exhausted", "releases_unshielded")

    def __init__(self, dsn: str, **options: Any) -> None:
        super().__init__(dsn, **options)
        self.acquire_timeout: float | None = None
        self.on_exhausted: Callable[[float], Exception] = _no_free_connection
        self.releases_unshielded = options.get("reset") is _keep_session
        self.coalescer: Coalescer | None = None  # set by create_pool(coalesce_reads=True)
        self.combiner: WriteCombiner | None = None  # set by create_pool(combine_writes=True)

    def acquire(self, *, timeout: float | None = None) -> _Acquire | _SharedAcquire | PoolAcquireContext:
        if timeout is not None:  # an explicit timeout: asyncpg's own handling
            return super().acquire(timeout=timeout)
        shared = _SHARED.get()
        if shared is not None and shared.owner is asyncio.current_task():
            return _SharedAcquire(self, shared)
        return _Acquire(self)

    async def acquire_within_bound(self) -> PoolConnectionProxy:
        """A connection, waiting at most `acquire_timeout` for one to be free (then `on_exhausted`).

        The bound is an asyncio.timeout taken only when no connection is free: asyncpg's own timeout runs
        every acquire in a task of its own (wait_for), a cost on every query even when nothing waits.
        """
        started = time.perf_counter()
        try:
            if self.acquire_timeout is None or internals.has_free_connection(self):
                connection = await internals.acquire(self)
            else:
                async with asyncio.timeout(self.acquire_timeout):
                    connection = await internals.acquire(self)
        except TimeoutError:
            raise self.on_exhausted(self.acquire_timeout) from None
        finally:
            DB_POOL_WAIT.observe(time.perf_counter() - started)
        # The release gets the same budget: returning a connection whose query was cancelled waits
        # for PostgreSQL to confirm, and a partitioned database never does.
        internals.set_release_budget(connection, self.acquire_timeout)
        return connection

    async def release(self, connection: PoolConnectionProxy, *, timeout: float | None = None) -> None:  # noqa: ASYNC109 (asyncpg's signature)
        """Return a connection; in the caller's task when nothing needs waiting for.

        asyncpg always releases inside asyncio.shield (a task of its own and a loop iteration per
        query) so a cancellation cannot strand a connection half-reset. With the engine's no-op
        reset, an idle connection that is not cancelling a query releases without ever suspending,
        so no cancellation can reach it: only connections with something to wait for take the shield.
        """
        if self.releases_unshielded:
            releasing = internals.release_unshielded(self, connection, timeout)
            if releasing is not None:
                await releasing
                return
        await super().release(connection, timeout=timeout)

    def bound_wait(self, seconds: float, on_exhausted: Callable[[float], Exception]) -> None:
        """From now on an acquire waits at most `seconds` for a free connection, then raises `on_exhausted(seconds)`."""
        self.acquire_timeout = seconds
        self.on_exhausted = on_exhausted


def _no_free_connection(seconds: float) -> Exception:
    return TimeoutError(f"no database connection became free within {seconds:g} s")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's reset query (a second round trip on every request).

    Safe because the engine never leaves session state behind: settings are fixed at connect time,
    advisory locks are transaction-scoped, LISTEN uses its own connection, and asyncpg still rolls
    back an open transaction before this runs.
    """


async def create_pool(
    url: str,
    *,
    min_size: int,
    max_size: int,
    statement_timeout_ms: int,
    schema: str | None = None,
    pooler: str = NONE,
    plan_cache_mode: str | None = None,
    coalesce_reads: bool = False,
    combine_writes: bool = False,
    application_name: str = "resource-engine",
    **connect_options: Any,
) -> EnginePool:
    """The engine's pool. Behind PgBouncer (`pooler`), without asyncpg's named prepared statements and
    startup settings (engine.db.pooler); `connect_options` go to each connect (e.g. ``timeout``).
    With `coalesce_reads`, concurrent reads of one shape go to PostgreSQL together (engine.db.coalesce);
    with `combine_writes`, concurrent writes of one shape commit together (engine.db.commit_together)."""
    internals.check()  # refuse to start, naming the part, if asyncpg changed what the pool relies on
    if pooler == PGBOUNCER:
        connect_options["statement_cache_size"] = 0
    pool = internals.build_pool(
        EnginePool,
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings=_settings(application_name, schema, statement_timeout_ms, pooler, plan_cache_mode),
        **connect_options,
    )
    await pool
    internals.make_fair(pool)  # the queue of free connections is made while the pool opens
    if coalesce_reads:
        pool.coalescer = Coalescer(pool, alone=holding_connection)
    if combine_writes:
        pool.combiner = WriteCombiner(alone=holding_connection)
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
