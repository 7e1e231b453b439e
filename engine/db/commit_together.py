"""Concurrent single-statement writes of one shape, committed together.

A write the engine makes without a transaction of its own (a create, an update: the row, its event
and its version in one statement) pays for a commit: a WAL flush, and the executor's and the round
trip's cost of a statement of its own. Under load many requests write with the same statement and
other values (POST /api/agents: the same INSERT, another row and caller). A write waits one turn of
the event loop for the writes of its shape that the loop reaches in the same turn, and, while
`IN_FLIGHT` transactions of its shape are running, for one of them to end (group commit: the busier
the server, the more writes each transaction carries; an idle one adds no wait). When others came,
one connection sends all their statements in one pipeline (asyncpg `fetchmany`: each statement
bound and executed in turn, one Sync), which PostgreSQL runs as one transaction: N writes then cost
one commit and one round trip instead of N (bench/RESULTS.md measures it). The writers hold no
connection while they wait (the resource manager's creates and updates hand theirs over only when
no plugin hook may use it): the one that sends the pipeline takes one for all.

Each write is still its own statement, with its own values, run in arrival order (updates in the
order of their row's key, so two such transactions lock rows in the same order), and each caller
gets exactly the row its statement returned: a second form of the statement, built once per shape
(engine.sql.compiled.tagged), returns the caller's position beside the row. The transaction
commits all of them or none: when one statement fails (a unique key taken, a check refused, a
deadlock), PostgreSQL rolls all of them back and each caller runs its own statement on its own
connection, so an error reaches only the caller it belongs to. When the connection itself fails,
whether the transaction committed is unknown, as for a single statement: every caller gets that
error, and nothing is run again.

Writes share `now()`: the rows of one transaction carry the same `created_at` and `updated_at`.
Writes inside a transaction (a plugin needing one, a nested route, `one_connection`) never come here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from engine.db.metrics import DB_COMBINED_COMMITS, DB_COMBINED_WRITES
from engine.sql.compiled import Compiled

POSITION = "__writer"  # the column a combined statement adds (engine.sql.compiled.tagged): the caller's position
# Writes committed by one transaction; one arriving when it is full starts the next. A group's
# statements run one after another on one backend: smaller groups spread the load over
# `IN_FLIGHT` backends (measured: 16 beat 64 and 8 on W3 and W4, bench/RESULTS.md).
MAX_WRITERS = 16
IN_FLIGHT = 2  # transactions of one shape running at once; the next one gathers meanwhile
_ALONE = object()  # the transaction rolled back: run your own statement

Values = Mapping[str, Any]


class _Writer:
    __slots__ = ("answer", "order", "values")

    def __init__(self, values: Values, order: Any, answer: asyncio.Future[Any] | None) -> None:
        self.values, self.order, self.answer = values, order, answer


class _Shape:
    """One statement shape: the writes gathering for its next transaction, the ones running."""

    __slots__ = ("freed", "gathering", "running")

    def __init__(self) -> None:
        self.gathering: list[_Writer] | None = None
        self.running = 0  # transactions of this shape in flight
        self.freed: asyncio.Future[None] | None = None  # set when one of them ends (for a leader waiting)


class WriteCombiner:
    """Writes on a pool, committed together per statement shape (see the module's docstring).

    A write for which `alone()` is true runs its own statement: a task holding a connection
    between its statements (`one_connection`) must not wait for another task's transaction, whose
    first writer may itself be waiting for a free connection."""

    def __init__(
        self, max_writers: int = MAX_WRITERS, in_flight: int = IN_FLIGHT, alone: Callable[[], bool] | None = None
    ) -> None:
        self.max_writers = max_writers
        self.in_flight = in_flight
        self.alone = alone
        self._shapes: dict[str, _Shape] = {}  # the shapes being written (gathering or running)

    async def fetchrow(
        self,
        pool: Any,
        conn: asyncpg.Connection | None,
        compiled: Compiled,
        values: Values,
        tagged: Compiled,
        order: Any = None,
    ) -> Mapping[str, Any] | None:
        """The row `fetchrow(compiled.sql, *compiled.args(values))` returns, the statement committed
        with concurrent writes of its shape. `conn`: the caller's own connection (outside a
        transaction), or None when the caller holds none: then only the transaction's first writer
        takes one from `pool`, for all of them. `tagged` is the statement returning `POSITION` too
        (engine.sql.compiled.tagged); `order` (the written row's key, for updates) orders the
        statements of one transaction."""
        sql = compiled.sql
        if (conn is not None and conn.is_in_transaction()) or (self.alone is not None and self.alone()):
            return await _alone(pool, conn, compiled, values)
        shape = self._shapes.get(sql)
        if shape is None:
            shape = self._shapes[sql] = _Shape()
        gathering = shape.gathering
        if gathering is not None and len(gathering) < self.max_writers:  # join the transaction being gathered
            answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            gathering.append(_Writer(values, order, answer))
            row = await answer  # cancelled here, the statement may still commit with the others, as a
            # single statement may once sent
            return await _alone(pool, conn, compiled, values) if row is _ALONE else row
        # Lead: the writes of this shape that the loop reaches in this turn join, and those that come
        # while `in_flight` transactions of the shape run (group commit: the busier, the more join).
        gathering = shape.gathering = [_Writer(values, order, None)]
        try:
            await asyncio.sleep(0)
            while shape.running >= self.in_flight:
                if shape.freed is None:
                    shape.freed = asyncio.get_running_loop().create_future()
                await asyncio.shield(shape.freed)
        except asyncio.CancelledError:
            if shape.gathering is gathering:
                shape.gathering = None
            _answer(gathering, None)
            self._idle(sql, shape)
            raise
        finally:
            if shape.gathering is gathering:
                shape.gathering = None
        writers = [w for w in gathering if w.answer is None or not w.answer.done()]  # not the cancelled
        if len(writers) == 1:
            self._idle(sql, shape)
            return await _alone(pool, conn, compiled, values)
        shape.running += 1
        work = asyncio.ensure_future(self._together(pool, conn, tagged, writers))
        work.add_done_callback(lambda _: self._ended(sql, shape))
        try:
            row = await asyncio.shield(work)
        except asyncio.CancelledError:
            # On the caller's connection, the statements must end before it goes back to the pool:
            # a cancellation of this caller waits for them (the others are answered either way).
            while conn is not None and not work.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(work)
            raise
        return await _alone(pool, conn, compiled, values) if row is _ALONE else row

    def _ended(self, sql: str, shape: _Shape) -> None:
        shape.running -= 1
        if shape.freed is not None:
            shape.freed.set_result(None)
            shape.freed = None
        self._idle(sql, shape)

    def _idle(self, sql: str, shape: _Shape) -> None:
        """Forget a shape nothing gathers for or runs (the map holds only the shapes being written)."""
        if shape.running == 0 and shape.gathering is None and self._shapes.get(sql) is shape:
            del self._shapes[sql]

    async def _together(
        self, pool: Any, conn: asyncpg.Connection | None, tagged: Compiled, writers: list[_Writer]
    ) -> Any:
        """Run every writer's statement in one transaction; answer the others, return the leader's
        row. Whatever happens, every writer is answered (a row, run alone, or the error)."""
        leader = writers[0]
        try:
            return await self._run(pool, conn, tagged, writers, leader)
        except BaseException as exc:
            return _fail(writers, exc, leader)

    async def _run(
        self, pool: Any, conn: asyncpg.Connection | None, tagged: Compiled, writers: list[_Writer], leader: _Writer
    ) -> Any:
        if all(w.order is not None for w in writers):
            with contextlib.suppress(TypeError):  # keys that do not compare: arrival order
                writers = sorted(writers, key=lambda w: w.order)
        try:
            args = [tagged.args({**w.values, POSITION: n}) for n, w in enumerate(writers)]
            acquired = pool.acquire() if conn is None else None
            if acquired is not None:
                conn = await acquired.__aenter__()
        except Exception:  # nothing was sent: each writes alone, meeting its own error
            return _answer(writers, None, leader)
        try:
            records = await conn.fetchmany(tagged.sql, args)
        except (asyncpg.PostgresError, asyncpg.DataError) as exc:
            if not _open(conn):  # the connection failed: committed or not is unknown
                return _fail(writers, exc, leader)
            return _answer(writers, None, leader)  # rolled back: each writes alone, meeting its own error
        finally:
            if acquired is not None:
                await acquired.__aexit__(None, None, None)
        DB_COMBINED_COMMITS.inc()
        DB_COMBINED_WRITES.inc(len(writers))
        rows: dict[int, dict[str, Any]] = {}
        for record in records:
            row = dict(record.items())
            rows[row.pop(POSITION)] = row
        return _answer(writers, rows, leader)


def _open(conn: asyncpg.Connection) -> bool:
    """Whether the connection still stands (a pool's proxy of a lost one is detached, and says so by raising)."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


async def _alone(pool: Any, conn: asyncpg.Connection | None, compiled: Compiled, values: Values) -> Any:
    """The caller's own statement, on its own connection (or one taken for it)."""
    if conn is not None:
        return await conn.fetchrow(compiled.sql, *compiled.args(values))
    async with pool.acquire() as own:
        return await own.fetchrow(compiled.sql, *compiled.args(values))


def _answer(writers: list[_Writer], rows: dict[int, dict[str, Any]] | None, leader: _Writer | None = None) -> Any:
    """Hand each waiting writer its row (None: its statement wrote nothing), or `_ALONE` (`rows` None)
    to run its own statement; the leader's answer is returned."""
    mine: Any = _ALONE
    for position, writer in enumerate(writers):
        row = _ALONE if rows is None else rows.get(position)
        if writer is leader:
            mine = row
        elif writer.answer is not None and not writer.answer.done():
            writer.answer.set_result(row)
    return mine


def _fail(writers: list[_Writer], exc: BaseException, leader: _Writer) -> Any:
    for writer in writers:
        if writer is not leader and writer.answer is not None and not writer.answer.done():
            writer.answer.set_exception(exc)
    raise exc
