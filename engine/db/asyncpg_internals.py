"""Every use of asyncpg's private parts, in this one module: what the engine's pool relies on, and why.

asyncpg is pinned to the tested range in pyproject.toml. `check()` runs when a pool is created
(engine.db.pool.create_pool) and in tests/test_db_asyncpg_canary.py: when a release changes one of
these, the engine refuses to start with a message naming it, instead of a pool that misbehaves.

Relied on (asyncpg 0.32):

- ``asyncpg.Pool.__init__`` with the keyword parameters ``create_pool`` fills in (``loop``,
  ``connection_class``, ``record_class``, ``max_queries``, ``max_inactive_connection_lifetime``,
  ``reset``): ``create_pool`` has no parameter for the pool's class, so the engine calls its class.
- ``Pool._queue``, an ``asyncpg.pool._PoolConnectionHolderQueue`` of free connection holders:
  replaced once, as the pool opens, by a fair one (engine.db.handoff: a freed connection goes to the
  longest waiter, which cuts the p99), and its ``qsize()`` read so that the acquire bound costs
  nothing while a connection is free.
- ``_PoolConnectionHolderQueue`` itself: the fair queue subclasses it, so asyncpg's own preferences
  (live connections first, ``get_disconnected_nowait`` for the min-size upkeep) still apply.
- ``Pool._acquire(timeout)``: the acquire, awaited under the engine's bound (an ``asyncio.timeout``
  taken only when no connection is free) instead of asyncpg's ``wait_for`` task on every acquire.
- ``PoolConnectionProxy._holder`` and ``PoolConnectionHolder._timeout``: the budget asyncpg's release
  reads, set to the acquire bound so returning a connection to a partitioned database cannot hang.
- ``PoolConnectionProxy._con``, ``PoolConnectionHolder._pool``, ``PoolConnectionHolder.release(timeout)``,
  ``Connection._on_release()`` and ``Connection._protocol._is_cancelling()``: the release without
  ``asyncio.shield`` (a task and a loop iteration per query) for a connection that is open, in no
  transaction and cancelling no query: with the engine's no-op reset nothing then suspends, so no
  cancellation can strand it half-released.
- ``Connection._top_xact``, ``PoolConnectionHolder._generation``, ``Pool._generation``,
  ``PoolConnectionHolder._max_queries`` and ``Protocol.queries_count``: such a release also passes
  no budget when it cannot close the connection either (no transaction object left, not expired,
  under its query limit): the budget would only arm and cancel a timer on every request.
- From the standard library, through engine.db.handoff: ``asyncio.Queue._getters`` (the deque of
  waiters' futures) and ``_get_loop()``.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import types
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
import asyncpg.pool
import asyncpg.protocol

from engine.db.handoff import HandOff

_HOLDER_QUEUE: type = getattr(asyncpg.pool, "_PoolConnectionHolderQueue", asyncio.LifoQueue)  # check() names it


class AsyncpgInternalsChanged(RuntimeError):
    """The installed asyncpg lacks, or changed the shape of, a private part the engine's pool relies on."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__(
            f"asyncpg {asyncpg.__version__} changed what the engine's pool relies on: {', '.join(names)}. "
            "Install the asyncpg range pinned in pyproject.toml, or adapt engine/db/asyncpg_internals.py."
        )


class FairHolderQueue(HandOff, _HOLDER_QUEUE):  # type: ignore[misc, valid-type]
    """asyncpg's queue of free connection holders, handing each freed one to the longest waiter."""


def build_pool(pool_class: type[asyncpg.Pool], dsn: str, **options: Any) -> Any:
    """`pool_class(dsn, ...)` with `asyncpg.create_pool`'s defaults for what `options` leaves out."""
    defaults = {
        "loop": None,
        "connection_class": asyncpg.Connection,
        "record_class": asyncpg.Record,
        "max_queries": 50000,
        "max_inactive_connection_lifetime": 300.0,
    }
    return pool_class(dsn, **{**defaults, **options})


def make_fair(pool: asyncpg.Pool) -> None:
    """Swap the open pool's queue of free holders for a FairHolderQueue holding the same, in the same order."""
    free = pool._queue
    if type(free) is not _HOLDER_QUEUE:
        raise AsyncpgInternalsChanged([f"asyncpg.pool.Pool._queue (a {type(free).__name__})"])
    holders = []
    while not free.empty():
        holders.append(free.get_nowait())
    fair = FairHolderQueue(maxsize=free.maxsize)
    for holder in reversed(holders):  # last in, first out: the first taken goes back last
        fair.put_nowait(holder)
    pool._queue = fair


def has_free_connection(pool: asyncpg.Pool) -> bool:
    return bool(pool._queue.qsize())


def acquire(pool: asyncpg.Pool) -> Awaitable[Any]:
    """asyncpg's acquire without its timeout (no `wait_for` task); the caller bounds the wait."""
    return pool._acquire(None)


def set_release_budget(connection: Any, seconds: float | None) -> None:
    connection._holder._timeout = seconds


def release_unshielded(pool: asyncpg.Pool, connection: Any, timeout: float | None) -> Coroutine[Any, Any, None] | None:
    """The holder's release to await in the caller's task, or None when asyncpg's shielded release must run.

    Only for a pool whose reset does nothing: then an open connection, in no transaction and cancelling
    no query, releases without ever suspending.
    """
    con = getattr(connection, "_con", None)
    holder = getattr(connection, "_holder", None)
    if (
        con is None
        or holder is None
        or holder._pool is not pool
        or con.is_closed()
        or con.is_in_transaction()
        or con._protocol._is_cancelling()
    ):
        return None
    budget = holder._timeout if timeout is None else timeout
    quiet = (  # nothing in the release can suspend: no ROLLBACK and no close to bound
        con._top_xact is None
        and holder._generation == pool._generation
        and con._protocol.queries_count < holder._max_queries
    )
    con._on_release()
    return holder.release(None if quiet else budget)


def _slot(cls: type, name: str) -> bool:
    """`name` is a slot of `cls`: its descriptor is on the class, whatever `__slots__` says."""
    return isinstance(getattr(cls, name, None), types.MemberDescriptorType)


def _takes(function: Callable[..., Any] | None, *names: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return all(name in parameters for name in names)


def _queue_shape() -> bool:
    queue = asyncio.Queue()
    getters, get_loop = getattr(queue, "_getters", None), getattr(queue, "_get_loop", None)
    return isinstance(getters, collections.deque) and callable(get_loop)


_POOL_OPTIONS = ("loop", "connection_class", "record_class", "max_queries", "max_inactive_connection_lifetime", "reset")


def _pool_init_shape() -> bool:
    """Pool.__init__ takes what build_pool passes and requires nothing else (min_size, max_size: the caller)."""
    if not _takes(asyncpg.Pool.__init__, *_POOL_OPTIONS):
        return False
    parameters = inspect.signature(asyncpg.Pool.__init__).parameters.values()
    required = {p.name for p in parameters if p.kind is p.KEYWORD_ONLY and p.default is p.empty}
    return required <= {*_POOL_OPTIONS, "min_size", "max_size"}


_pool = asyncpg.pool
RELIED_ON: dict[str, Callable[[], bool]] = {
    f"asyncpg.Pool.__init__({', '.join(_POOL_OPTIONS)})": _pool_init_shape,
    "asyncpg.pool.Pool._queue": lambda: _slot(asyncpg.Pool, "_queue"),
    "asyncpg.pool._PoolConnectionHolderQueue": lambda: (
        _HOLDER_QUEUE is not asyncio.LifoQueue
        and issubclass(_HOLDER_QUEUE, asyncio.Queue)
        and callable(getattr(_HOLDER_QUEUE, "get_disconnected_nowait", None))
    ),
    "asyncpg.pool.Pool._acquire(timeout)": lambda: _takes(getattr(asyncpg.Pool, "_acquire", None), "timeout"),
    "asyncpg.pool.PoolConnectionProxy._con": lambda: _slot(_pool.PoolConnectionProxy, "_con"),
    "asyncpg.pool.PoolConnectionProxy._holder": lambda: _slot(_pool.PoolConnectionProxy, "_holder"),
    "asyncpg.pool.PoolConnectionHolder._pool": lambda: _slot(_pool.PoolConnectionHolder, "_pool"),
    "asyncpg.pool.PoolConnectionHolder._timeout": lambda: _slot(_pool.PoolConnectionHolder, "_timeout"),
    "asyncpg.pool.PoolConnectionHolder.release(timeout)": lambda: _takes(
        getattr(_pool.PoolConnectionHolder, "release", None), "timeout"
    ),
    "asyncpg.Connection._on_release()": lambda: callable(getattr(asyncpg.Connection, "_on_release", None)),
    "asyncpg.Connection._protocol": lambda: _slot(asyncpg.Connection, "_protocol"),
    "asyncpg.protocol.Protocol._is_cancelling()": lambda: callable(
        getattr(asyncpg.protocol.Protocol, "_is_cancelling", None)
    ),
    "asyncpg.Connection._top_xact": lambda: _slot(asyncpg.Connection, "_top_xact"),
    "asyncpg.pool.PoolConnectionHolder._generation": lambda: _slot(_pool.PoolConnectionHolder, "_generation"),
    "asyncpg.pool.Pool._generation": lambda: _slot(asyncpg.Pool, "_generation"),
    "asyncpg.pool.PoolConnectionHolder._max_queries": lambda: _slot(_pool.PoolConnectionHolder, "_max_queries"),
    "asyncpg.protocol.Protocol.queries_count": lambda: hasattr(asyncpg.protocol.Protocol, "queries_count"),
    "asyncio.Queue._getters, asyncio.Queue._get_loop()": _queue_shape,
}


def missing() -> list[str]:
    """The private parts in RELIED_ON that the installed asyncpg (or asyncio) no longer has as expected."""
    return [name for name, holds in RELIED_ON.items() if not holds()]


def check() -> None:
    """Refuse to go on (AsyncpgInternalsChanged, naming each part) when anything in RELIED_ON changed."""
    names = missing()
    if names:
        raise AsyncpgInternalsChanged(names)
