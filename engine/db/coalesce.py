"""Concurrent reads of one statement shape, answered by one statement.

Under load many requests ask the same question with other values (GET /api/agents/{id}: the same
SQL, another id and caller). A read waits one turn of the event loop for the reads of its shape that
the loop reaches in the same turn; when others came, one statement answers them all, joining the
shape LATERAL to the callers' values: `unnest` of one array per parameter whose value differs
between them, a value they share bound once. N reads then cost one pool acquire, one round trip and
one executor start-up instead of N (bench/RESULTS.md measures it). A hand-written server rarely does
this; the engine can, because it knows each statement's shape and asks PostgreSQL its parameters'
types once.

A statement's callers are capped by the rows it returns (`ROWS_PER_STATEMENT`): reads by key
return a row each and are best answered all at once, but lists of 20 rows cost PostgreSQL real work
per caller, done by one backend on one core; capped, the same callers' lists are read by several
statements on several connections at once (bench/RESULTS.md measures both).

Each caller gets exactly the rows its own statement gives: the shape is that statement, run once per
caller's values, its ORDER BY and LIMIT included (PostgreSQL never flattens a subquery with an ORDER
BY into the join: it runs in a nested loop over the callers, which keeps each caller's rows in the
statement's order). When the combined statement fails, or a value it would carry is an array that
differs between callers, each caller runs its own statement, so an error reaches only the caller it
belongs to. Writes, and reads inside a transaction, never come here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any

import asyncpg

from engine.db.metrics import DB_COMBINED_READS, DB_COMBINED_STATEMENTS
from engine.sql.compiled import Compiled, for_rows

ROWS = "__callers"  # the callers' values, one row per caller
POSITION = "__caller"  # the column numbering them, from 1
MAX_CALLERS = 64  # callers answered by one statement; one arriving when it is full starts the next
ROWS_PER_STATEMENT = 320  # a shape's callers per statement: this over the rows per caller its last one returned
MAX_SHAPES = 1024  # statement shapes remembered (their parameters' types, their combined forms)
_ALONE = object()  # the combined statement was not made: run your own

Row = Mapping[str, Any]
Caller = tuple[Sequence[Any], "asyncio.Future[Any] | None"]  # its values, and where its rows go (the leader: None)


class _Shape:
    """One statement shape: the callers gathering for its next statement, and its combined forms."""

    __slots__ = ("callers", "combined", "gathering", "types")

    def __init__(self) -> None:
        self.gathering: list[Caller] | None = None
        self.types: tuple[Any, ...] | None = None  # the parameters' (asyncpg Type), asked once
        self.callers = MAX_CALLERS  # at most this many callers per statement (`ROWS_PER_STATEMENT`)
        self.combined: dict[tuple[int, ...], str] = {}  # the positions bound once -> the combined statement


class Coalescer:
    """Reads through one pool or replica router, combined per statement shape (see the module's docstring).

    `reads` runs a lone statement (`reads.fetch`); `run(work, reads)` runs the combined one, answering
    that many reads, on a connection it picks (by default one of `reads`, a pool); `context()`, when
    given, is part of each shape's key, so only reads that may go to the same place meet (a replica
    router's read-your-writes position). A read for which `alone()` is true runs its own statement:
    a task holding a connection between its statements (`one_connection`) must not wait for another
    task's statement, which may itself be waiting for a free connection.
    """

    def __init__(
        self,
        reads: Any,
        run: Callable[[Callable[[asyncpg.Connection], Awaitable[Any]], int], Awaitable[Any]] | None = None,
        context: Callable[[], Hashable] | None = None,
        alone: Callable[[], bool] | None = None,
        max_callers: int = MAX_CALLERS,
        rows_per_statement: int = ROWS_PER_STATEMENT,
    ) -> None:
        self.reads = reads
        self.run = run or self._on_pool
        self.context = context
        self.alone = alone
        self.max_callers = max_callers
        self.rows_per_statement = rows_per_statement
        self._shapes: dict[Hashable, _Shape] = {}
        self._unsuited: set[str] = set()  # statements `for_rows` cannot rewrite: always read alone

    async def _on_pool(self, work: Callable[[asyncpg.Connection], Awaitable[Any]], reads: int) -> Any:
        async with self.reads.acquire() as conn:
            return await work(conn)

    async def fetch(self, compiled: Compiled, args: Sequence[Any]) -> list[Row]:
        """The rows of `reads.fetch(compiled.sql, *args)`, read together with concurrent callers of its shape."""
        sql = compiled.sql
        if not args or sql in self._unsuited or (self.alone is not None and self.alone()):
            return await self.reads.fetch(sql, *args)
        key = sql if self.context is None else (sql, self.context())
        shape = self._shapes.get(key)
        if shape is None:
            if len(self._shapes) >= MAX_SHAPES:
                self._forget_idle()
            shape = self._shapes[key] = _Shape()
        gathering = shape.gathering
        # Join the statement being gathered, while it has room.
        if gathering is not None and len(gathering) < min(self.max_callers, shape.callers):
            answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            gathering.append((args, answer))
            rows = await answer
            return await self.reads.fetch(sql, *args) if rows is _ALONE else rows
        # Lead: the reads of this shape that the loop reaches in this turn join; then ask for them all.
        gathering = shape.gathering = [(args, None)]
        grouped = None
        try:
            await asyncio.sleep(0)
            if shape.gathering is gathering:
                shape.gathering = None
            if len(gathering) > 1:
                grouped = await self._together(compiled, shape, [values for values, _ in gathering])
        finally:
            if shape.gathering is gathering:  # cancelled while gathering
                shape.gathering = None
            _answer(gathering, grouped)  # when it failed (None), each of the others runs its own
        if grouped is None:
            return await self.reads.fetch(sql, *args)
        return grouped.get(1, [])

    async def fetchrow(self, compiled: Compiled, args: Sequence[Any]) -> Row | None:
        """The first row of `fetch`, or None."""
        rows = await self.fetch(compiled, args)
        return rows[0] if rows else None

    async def _together(
        self, compiled: Compiled, shape: _Shape, callers: list[Sequence[Any]]
    ) -> dict[int, list[Row]] | None:
        """Each caller's rows by its position (from 1), or None when they must run their own."""
        shared = tuple(i for i, values in enumerate(zip(*callers, strict=True)) if _same(values))
        own = tuple(i for i in range(len(compiled.names)) if i not in shared)
        if shape.types is not None and not _carried(shape.types, own):
            return None
        return await self.run(lambda conn: self._on(conn, compiled, shape, callers, shared, own), len(callers))

    async def _on(
        self,
        conn: asyncpg.Connection,
        compiled: Compiled,
        shape: _Shape,
        callers: list[Sequence[Any]],
        shared: tuple[int, ...],
        own: tuple[int, ...],
    ) -> dict[int, list[Row]] | None:
        if not own:  # the same question: one statement, a copy of its rows for each
            records = await conn.fetch(compiled.sql, *callers[0])
            _count(len(callers))
            return {i: [dict(r.items()) for r in records] for i in range(1, len(callers) + 1)}
        if shape.types is None:
            shape.types = tuple((await conn.prepare(compiled.sql)).get_parameters())
            if not _carried(shape.types, own):
                return None
        sql = shape.combined.get(shared)
        if sql is None:
            sql = combined(compiled, shape.types, shared)
            if sql is None:
                if len(self._unsuited) >= MAX_SHAPES:
                    self._unsuited.clear()
                self._unsuited.add(compiled.sql)
                return None
            shape.combined[shared] = sql
        try:
            records = await conn.fetch(
                sql, *([values[i] for values in callers] for i in own), *(callers[0][i] for i in shared)
            )
        except (asyncpg.PostgresError, asyncpg.DataError):  # one caller's value, or its rows: each asks alone
            shape.types, shape.combined = None, {}  # asked again next time (a migration may change them)
            return None
        _count(len(callers))
        # The next statement's callers, so that it returns about `rows_per_statement` rows (two at least).
        shape.callers = max(2, self.rows_per_statement * len(callers) // max(len(records), 1))
        grouped: dict[int, list[Row]] = {}
        if records:
            names = tuple(records[0].keys())[1:]  # the first column is the caller's position
            for record in records:
                caller, *values = record
                grouped.setdefault(caller, []).append(dict(zip(names, values, strict=True)))
        return grouped

    def _forget_idle(self) -> None:
        for key in [key for key, shape in self._shapes.items() if shape.gathering is None]:
            del self._shapes[key]


async def fetch(reads: Any, compiled: Compiled, args: Sequence[Any]) -> Sequence[Row]:
    """`reads.fetch(compiled.sql, *args)`, combined with concurrent reads of its shape when `reads`, a
    pool or a replica router, combines them (its `coalescer`, set when ENGINE_DB_COALESCE_READS is on)."""
    coalescer = getattr(reads, "coalescer", None)
    if coalescer is None:
        return await reads.fetch(compiled.sql, *args)
    return await coalescer.fetch(compiled, args)


async def fetchrow(reads: Any, compiled: Compiled, args: Sequence[Any]) -> Row | None:
    """`reads.fetchrow(compiled.sql, *args)`, combined as `fetch` is."""
    coalescer = getattr(reads, "coalescer", None)
    if coalescer is None:
        return await reads.fetchrow(compiled.sql, *args)
    return await coalescer.fetchrow(compiled, args)


def combined(compiled: Compiled, types: Sequence[Any], shared: tuple[int, ...]) -> str | None:
    """The statement answering many callers: one array per parameter not in `shared` ($1, $2...), then
    the shared values; each result row carries its caller's position in `POSITION`. None when the
    statement cannot be rewritten (`for_rows`)."""
    own = [i for i in range(len(types)) if i not in shared]
    arrays = ", ".join(f"${n + 1}::{_quoted(types[i].schema)}.{_quoted(types[i].name)}[]" for n, i in enumerate(own))
    names = ", ".join(f'"p{i}"' for i in own)
    inner = for_rows(compiled.sql, ROWS, {position: len(own) + n + 1 for n, position in enumerate(shared)})
    if inner is None:
        return None
    return (
        f'SELECT "{ROWS}"."{POSITION}", "__row".* FROM unnest({arrays}) WITH ORDINALITY'
        f' AS "{ROWS}"({names}, "{POSITION}") CROSS JOIN LATERAL ({inner}) AS "__row"'
    )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _carried(types: Sequence[Any], own: tuple[int, ...]) -> bool:
    """Whether `unnest` can carry these parameters: not an array (its elements would be flattened)."""
    return all(types[i].kind == "scalar" for i in own)


def _same(values: Sequence[Any]) -> bool:
    first = values[0]
    return all(type(v) is type(first) and v == first for v in values[1:])


def _count(callers: int) -> None:
    DB_COMBINED_STATEMENTS.inc()
    DB_COMBINED_READS.inc(callers)


def _answer(gathering: list[Caller], grouped: dict[int, list[Row]] | None) -> None:
    """Hand each waiting caller its rows, or `_ALONE` (`grouped` None) to run its own statement."""
    for position, (_, answer) in enumerate(gathering[1:], start=2):
        if answer is not None and not answer.done():
            answer.set_result(_ALONE if grouped is None else grouped.get(position, []))
