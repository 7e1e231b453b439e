"""Read replicas: reads go to a streaming replica that has replayed what the caller wrote, else to the primary.

Routing is per read, decided by `Replicas.choose` from what this worker last measured of each
replica (one monitor task, every ENGINE_REPLICA_CHECK_INTERVAL seconds):

- a request marks what it may read from with `read_after(lsn)`: the WAL position of its client's
  last write (the consistency token, engine.features.replicas), or 0 for none. Nothing marked (a
  write request, a background task) reads from the primary;
- a replica serves the read when it is up, not further behind than ENGINE_REPLICA_MAX_LAG seconds,
  and its measured replay position (``pg_last_wal_replay_lsn()``) is at or past the token. A
  replica's replay position only grows, so a position measured earlier is a safe lower bound;
- a token newer than every such replica's last measured position (a read right after a write,
  usually) does not send the read to the primary yet: the next replica in turn is asked its replay
  position on the connection the read will use, one round trip, and serves the read if it has
  replayed the token (reason ``caught_up``), else the read goes to the primary (``behind_token``).
  Its answer becomes its measured position. Reads without a token, or with one the measured
  position covers, ask nothing;
- a replica that fails (refused, dropped, recovery conflict) is marked down until the monitor
  reaches it again, and the read is run again on the primary: the client never sees a replica's
  failure. A replica with no free connection within REPLICA_ACQUIRE_WAIT sends that one read to
  the primary and stays up (it is busy, not failing; the monitor checks on its own connection). A
  statement that reached its deadline (57014) is not a failure of the replica either: it reaches
  the caller as it would from the primary;
- a read of several statements (a count in its own read-only transaction) runs through `run`,
  which routes one connection the same way.

Resources with a query cache always read from the primary: an entry filled from a replica that had
not yet replayed a write would outlive the write's invalidation.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

from engine.db.coalesce import Coalescer
from engine.db.metrics import DB_READS, DB_REPLICA_LAG_BYTES, DB_REPLICA_LAG_SECONDS, DB_REPLICA_UP
from engine.db.pool import EnginePool, close_pool, create_pool, holding_connection
from engine.spec import Resource

log = logging.getLogger("engine.db.replicas")
T = TypeVar("T")

PRIMARY_ONLY = -1
_READ_AFTER: contextvars.ContextVar[int] = contextvars.ContextVar("engine_read_after", default=PRIMARY_ONLY)


class NotAStandby(Exception):
    """The server at a replica URL is not in recovery: it never serves reads."""


# What a failing replica raises: not being a standby, connection trouble, a server starting or
# stopping, a query cancelled by a recovery conflict (40001, 40P01), a table or column a migration made
# on the primary that the replica has not replayed yet (42xxx). The primary answers the read instead:
# it is the truth for all of them. ReplicaBusy (no free replica connection within REPLICA_ACQUIRE_WAIT)
# and 57014 (a statement deadline) are TimeoutError and OperatorInterventionError too, but
# `Replicas.run` catches them first.
REPLICA_FAILURES = (
    NotAStandby,
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.TransactionRollbackError,
    asyncpg.SyntaxOrAccessError,
    asyncpg.TooManyConnectionsError,
)
REPLICA_ACQUIRE_WAIT = 0.25  # a saturated replica pool sends the read to the primary after this long
CONNECT_TIMEOUT = 2.0

_PRIMARY_LSN = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint"
_REPLAYED_LSN = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"


def lsn_text(position: int) -> str:
    """PostgreSQL's spelling of a WAL position: ``16/B374D848``."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int | None:
    """A WAL position from its text, or None when `text` is not one."""
    high, sep, low = text.strip().partition("/")
    if not sep or not (0 < len(high) <= 8 and 0 < len(low) <= 8):
        return None
    try:
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        return None


async def replay_position(conn: asyncpg.Connection | EnginePool) -> int:
    """The server's ``pg_last_wal_replay_lsn()`` as bytes; NotAStandby when it is not a standby."""
    replayed = await conn.fetchval(_REPLAYED_LSN)
    if replayed is None:
        raise NotAStandby("not a standby (pg_last_wal_replay_lsn() is null): it is never used for reads")
    return replayed


def read_after(position: int) -> contextvars.Token:
    """Reads in this task may use a replica that has replayed `position` (0: any replica in time)."""
    return _READ_AFTER.set(position)


def reset_read_after(token: contextvars.Token) -> None:
    _READ_AFTER.reset(token)


def label(url: str) -> str:
    """host:port/database of a URL, never its credentials: for metrics, logs and /readyz."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


class Replica:
    """One replica: its pool for reads, the monitor's own connection, and what the monitor last measured."""

    def __init__(self, url: str, pool: EnginePool, monitor: EnginePool | None = None) -> None:
        self.name = label(url)
        self.pool = pool
        # The checks have a connection of their own: a read pool saturated by slow reads (exact
        # counts) must not make a healthy replica look down.
        self.monitor = pool if monitor is None else monitor
        self.up = False  # reached by the last check (or not failed since)
        self.replayed = 0  # pg_last_wal_replay_lsn() at the last check, as bytes
        self.lag = float("inf")  # seconds behind the primary at the last check
        self.problem: str | None = "not checked yet"

    def serves(self, after: int, max_lag: float | None) -> bool:
        return self.up and self.replayed >= after and (max_lag is None or self.lag <= max_lag)

    async def confirms(self, conn: asyncpg.Connection, after: int) -> bool:
        """Whether the replica has replayed `after`, asked on `conn` (the read's own connection): a
        token newer than the last check. The answer becomes the measured position."""
        try:
            replayed = await replay_position(conn)
        except asyncpg.QueryCanceledError as error:  # the replica's trouble, never the read's deadline
            raise ReplicaBusy("the replica did not tell its replay position within the statement timeout") from error
        self.replayed = max(self.replayed, replayed)
        return replayed >= after

    def failed(self, problem: str) -> None:
        if self.up:
            log.warning("replica %s skipped until it answers again: %s", self.name, problem)
        self.up, self.problem = False, problem
        DB_REPLICA_UP.labels(self.name).set(0)

    def report(self, primary_lsn: int, max_lag: float | None) -> dict[str, Any]:
        if not self.up:
            status = "down"
        elif max_lag is not None and self.lag > max_lag:
            status = "lagging"
        else:
            status = "ok"
        body: dict[str, Any] = {"replica": self.name, "status": status}
        if self.up:
            body.update(replayed=lsn_text(self.replayed), lag_bytes=max(primary_lsn - self.replayed, 0))
            body["lag_seconds"] = round(self.lag, 3)
        else:
            body["problem"] = self.problem
        return body


class _History:
    """The primary's WAL position over the last samples: how many seconds behind a replay position is."""

    def __init__(self, size: int) -> None:
        self.samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=size)

    def add(self, now: float, position: int) -> None:
        self.samples.append((now, position))

    def seconds_behind(self, replayed: int, now: float) -> float:
        """Time since the primary first stood past `replayed` (0 when the replica has everything seen)."""
        for when, position in self.samples:
            if position > replayed:
                return now - when
        return 0.0


class Replicas:
    """A worker's replicas: the monitor, the routing decision, and `fetch`/`fetchrow`/`fetchval` that use it.

    With no replica configured it is a thin pass-through to the primary (`for_resource` hands out
    the primary pool itself, so the resource manager pays nothing).
    """

    def __init__(
        self,
        primary: asyncpg.Pool,
        replicas: Sequence[Replica] = (),
        *,
        max_lag: float | None = 5.0,
        interval: float = 0.5,
    ) -> None:
        self.primary = primary
        self.replicas = tuple(replicas)
        self.max_lag = max_lag
        self.interval = interval
        self.primary_lsn = 0
        self.history = _History(max(10, min(2000, int(2 * (max_lag or 60) / interval) + 2)))
        self._next = 0
        self._monitor: asyncio.Task | None = None
        self.checked = asyncio.Event()  # set after each round of checks (tests wait on it)
        self.coalescer: Coalescer | None = None  # concurrent reads with one read-your-writes position, together

    @classmethod
    async def open(
        cls,
        primary: asyncpg.Pool,
        urls: Sequence[str],
        *,
        pool_size: int,
        statement_timeout_ms: int,
        schema: str | None,
        pooler: str,
        max_lag: float | None,
        plan_cache_mode: str | None = None,
        statement_lifetime: float | None = None,
        interval: float,
        coalesce_reads: bool = False,
        application_name: str = "resource-engine",
    ) -> Replicas:
        """Replica pools open empty (a replica that is down does not stop the start), then the monitor starts."""
        replicas = []
        options = {  # the replica's reads and its monitor's checks: the primary pool's settings
            "statement_timeout_ms": statement_timeout_ms,
            "schema": schema,
            "pooler": pooler,
            "plan_cache_mode": plan_cache_mode,
            "max_cached_statement_lifetime": statement_lifetime or 0,
            "timeout": CONNECT_TIMEOUT,
            "application_name": application_name,
        }
        for url in urls:
            pool = await create_pool(url, min_size=0, max_size=pool_size, **options)
            pool.bound_wait(REPLICA_ACQUIRE_WAIT, _replica_busy)
            monitor = await create_pool(url, min_size=0, max_size=1, **options)
            replicas.append(Replica(url, pool, monitor))
        router = cls(primary, replicas, max_lag=max_lag, interval=interval)
        if coalesce_reads:  # reads meet only with those that may go to the same place (engine.db.coalesce)
            router.coalescer = Coalescer(router, run=router.run, context=_READ_AFTER.get, alone=holding_connection)
        if replicas:
            await router.check()
            router._monitor = asyncio.create_task(router._watch(), name="engine-replica-monitor")
        return router

    def for_resource(self, resource: Resource) -> Replicas | asyncpg.Pool:
        """What a resource manager reads through: the primary for cached resources (see the module doc)."""
        if not self.replicas or resource.cache:
            return self.primary
        return self

    # --- routing ------------------------------------------------------------------------------

    def choose(self, reads: int = 1) -> tuple[Replica, int] | None:
        """The next replica (round robin) that may serve this task's reads, else None (the primary).

        With it, the token it must first confirm it has replayed (`Replica.confirms`): 0 when its last
        check covers the token; the token when no replica's check does, but one is up and in time.
        """
        after = _READ_AFTER.get()
        if after < 0:
            DB_READS.labels("primary", "write_or_background").inc(reads)
            return None
        count = len(self.replicas)
        to_ask = None
        for step in range(count):
            index = (self._next + step) % count
            replica = self.replicas[index]
            if replica.serves(after, self.max_lag):
                self._next = (index + 1) % count
                return replica, 0
            if to_ask is None and replica.serves(0, self.max_lag):
                to_ask = index
        if to_ask is not None:
            self._next = (to_ask + 1) % count
            return self.replicas[to_ask], after
        reason = "behind_token" if any(r.up and r.replayed < after for r in self.replicas) else "no_replica"
        DB_READS.labels("primary", reason).inc(reads)
        return None

    async def _read(self, method: str, query: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return await self.run(lambda conn: getattr(conn, method)(query, *args, **kwargs))

    async def run(self, work: Callable[[asyncpg.Connection], Awaitable[T]], reads: int = 1) -> T:
        """`work` on one connection of the replica `choose` picks, else of the primary; again on the
        primary when the replica fails meanwhile. Reads of several statements (a count in its own
        read-only transaction) use it directly: `work` must only read, and may run twice. `reads`:
        how many reads it answers, as counted by `engine_db_reads_total` (a combined statement's)."""
        route = self.choose(reads) if self.replicas else None
        if route is not None:
            replica, unconfirmed = route
            try:
                async with replica.pool.acquire() as conn:
                    if not unconfirmed or await replica.confirms(conn, unconfirmed):
                        result = await work(conn)
                        DB_READS.labels("replica", "caught_up" if unconfirmed else "replica").inc(reads)
                        return result
                DB_READS.labels("primary", "behind_token").inc(reads)
            except ReplicaBusy:  # a busy replica is not a failing one: this read overflows, the next may not
                DB_READS.labels("primary", "replica_busy").inc(reads)
            except asyncpg.QueryCanceledError:
                raise  # the statement's own deadline (57014), not a failing replica: the primary would run as long
            except REPLICA_FAILURES as error:
                replica.failed(f"{type(error).__name__}: {error}"[:300])
                DB_READS.labels("primary", "replica_failed").inc(reads)
        async with self.primary.acquire() as conn:
            return await work(conn)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> list[asyncpg.Record]:
        return await self._read("fetch", query, args, kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> asyncpg.Record | None:
        return await self._read("fetchrow", query, args, kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await self._read("fetchval", query, args, kwargs)

    async def current_lsn(self) -> int:
        """The primary's WAL position now: at or past every commit that finished before this call."""
        return await self.primary.fetchval(_PRIMARY_LSN)

    # --- monitoring ---------------------------------------------------------------------------

    async def check(self) -> None:
        """Measure the primary's WAL position, then every replica's replay position, at once."""
        now = time.monotonic()
        try:
            self.primary_lsn = await self.current_lsn()
            self.history.add(now, self.primary_lsn)
        except Exception as error:  # the primary's outage is the pool's (and /readyz's) to report
            log.debug("replica monitor: primary position unknown: %r", error)
        await asyncio.gather(*(self._check(replica, now) for replica in self.replicas))
        self.checked.set()
        self.checked = asyncio.Event()

    async def _check(self, replica: Replica, now: float) -> None:
        try:
            async with asyncio.timeout(max(self.interval * 4, CONNECT_TIMEOUT)):
                replayed = await replay_position(replica.monitor)
        except (*REPLICA_FAILURES, asyncpg.PostgresError) as error:
            replica.failed(f"{type(error).__name__}: {error}"[:300])
            return
        if not replica.up:
            log.warning("replica %s answers again", replica.name)
        replica.up, replica.problem = True, None
        replica.replayed = max(replica.replayed, replayed)
        replica.lag = self.history.seconds_behind(replica.replayed, now)
        DB_REPLICA_UP.labels(replica.name).set(1)
        DB_REPLICA_LAG_SECONDS.labels(replica.name).set(replica.lag)
        DB_REPLICA_LAG_BYTES.labels(replica.name).set(max(self.primary_lsn - replica.replayed, 0))

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # the monitor must outlive any surprise; the next round tries again
                log.exception("replica monitor round failed")

    def report(self) -> list[dict[str, Any]]:
        """Each replica's state, for /readyz."""
        return [replica.report(self.primary_lsn, self.max_lag) for replica in self.replicas]

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
        pools = {id(pool): pool for r in self.replicas for pool in (r.pool, r.monitor)}
        await asyncio.gather(*(close_pool(pool, grace=2.0) for pool in pools.values()))


async def run_read(reads: Replicas | asyncpg.Pool, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`work` on a connection `reads` hands out: through the router (`Replicas.run`), or the primary
    pool itself when a resource reads from the primary only (`Replicas.for_resource`)."""
    if isinstance(reads, Replicas):
        return await reads.run(work)
    async with reads.acquire() as conn:
        return await work(conn)


class ReplicaBusy(TimeoutError):
    """No replica connection became free in time: the read goes to the primary."""


def _replica_busy(seconds: float) -> Exception:
    return ReplicaBusy(f"no replica connection became free within {seconds:g} s")
