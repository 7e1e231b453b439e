"""What the write hooks share, and the settings a plugin may adjust before the pool opens.

A write's hooks (before_write, after_write, write_needs_transaction) receive its WriteContext as
an argument, so nothing travels between them in module state or context variables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from sqlglot import exp

from engine.kernel.identity import Identity


@dataclass(eq=False)
class WriteContext:
    """One write: who makes it, on which connection, and what its hooks tell each other.

    ``shared`` lives as long as the request (a middleware keeps per-request state there, e.g. the
    query cache notes every resource the request's writes touched); ``notes`` lives from this
    write's ``before_write`` to its ``after_write`` (key both by something your plugin owns).
    """

    identity: Identity | None
    shared: dict[Any, Any] = field(default_factory=dict)
    conn: asyncpg.Connection | None = None
    notes: dict[Any, Any] = field(default_factory=dict)
    folds: tuple[WriteFold, ...] = ()  # the `fold_into_write` answers whose rows the statement also wrote
    # The stored version this update puts back (features/history): its nulls are fields it did not
    # have, so validation takes them as absent and the update clears them.
    restoring: int | None = None
    # The masked fields (read rules) the caller may read on the written row, when the write's own
    # statement worked them out (ResourceManager.shown then asks nothing more of the database).
    readable: frozenset[str] | None = None
    # The set-based write (bulk create, update or delete, upsert) this row is one of; None for a
    # write of one row. An after_write may defer its rows there, to write them for all rows at once.
    write_set: WriteSet | None = None
    # Reference columns whose target the route checked itself (a relation's nested routes, under
    # their `attach` rule): the `check: read` of engine.resources.references leaves them alone.
    references_checked: frozenset[str] = frozenset()
    # Where a hook takes a connection when `conn` is None: a write without a transaction that
    # commits with concurrent writes (engine.db.commit_together) holds none. Only resources whose
    # write hooks are all built in, or take neither `conn` nor `context`, write so.
    pool: Any = None

    def folded(self, kind: type) -> bool:
        """Whether the statement wrote a `kind` fold's rows itself (a loop, not ``any()`` over a
        generator: each row of a bulk write asks)."""
        for fold in self.folds:
            if isinstance(fold, kind):
                return True
        return False

    def for_write(self) -> WriteContext:
        """A fresh context for another write of the same request (nested and batched writes)."""
        return WriteContext(self.identity, self.shared, self.conn)


Flush = Callable[[asyncpg.Connection, list[Any]], Awaitable[None]]


@dataclass(eq=False)
class WriteSet:
    """The rows of one set-based write: what their `after_write` hooks write, written once for all.

    A hook calls ``context.write_set.defer(key, flush, rows)`` instead of writing `rows` for its
    row; after the last row's `after_write` the engine awaits ``flush(conn, every row deferred
    under key)``, once per key, in the same transaction (a write that needs none has committed its
    one statement by then), with the rows in the order deferred (so in row order). One statement
    for a thousand rows instead of a thousand round trips.
    """

    _pending: dict[Any, tuple[Flush, list[Any]]] = field(default_factory=dict)

    def defer(self, key: Any, flush: Flush, rows: Iterable[Any]) -> None:
        self._pending.setdefault(key, (flush, []))[1].extend(rows)

    async def flush(self, conn: asyncpg.Connection) -> None:
        pending, self._pending = self._pending, {}
        for write, rows in pending.values():
            await write(conn, rows)


class WriteFold(Protocol):
    """An answer to `fold_into_write`: rows a plugin writes in the same statement as the change.

    The statement is ``WITH written AS (<the write> RETURNING *), <your CTEs> SELECT * FROM written``:
    ``ctes(written)`` returns (name, expression) pairs that read from the CTE named ``written``
    (prefix your names: several plugins' CTEs share one WITH, as PostgreSQL requires of
    data-modifying statements). Build them once per call; the engine compiles each shape once.

    An update that reads its row in the same statement (hookspecs.write_needs_previous) calls
    ``ctes(written, previous=<the CTE holding the row as it was>)`` when ``ctes`` takes that
    parameter, and then, if the fold has one, ``guard(previous, new)``: a condition on the row as
    it was (``new`` maps each changed column to its new value's expression) that the update
    must meet, or None. A guard that fails changes nothing, and the engine runs the update
    again after reading the row, where your ``before_write`` refuses it with its own problem:
    the one-statement path for a rule that would otherwise need ``previous``
    (engine/features/transitions).
    """

    def ctes(self, written: str) -> list[tuple[str, exp.Expression]]: ...

    def values(self, identity: Identity | None, previous: dict[str, Any] | None) -> dict[str, Any]: ...


@dataclass
class PoolSettings:
    """The pool's settings, from the configuration; `before_pool_open` implementations adjust them."""

    min_size: int
    max_size: int
    statement_timeout_ms: int
    acquire_timeout: float | None = None  # seconds a request waits for a connection, then 503
    plan_cache_mode: str = "force_generic_plan"  # PostgreSQL's plan_cache_mode (ENGINE_DB_PLAN_CACHE_MODE)
    statement_lifetime: float | None = 30.0  # seconds a prepared statement is kept (ENGINE_DB_STATEMENT_LIFETIME)
    coalesce_reads: bool = True  # concurrent reads of one shape answered by one statement (ENGINE_DB_COALESCE_READS)
    combine_writes: bool = True  # concurrent writes of one shape committed together (ENGINE_DB_COMBINE_WRITES)
