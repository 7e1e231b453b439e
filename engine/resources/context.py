"""What the write hooks share, and the settings a plugin may adjust before the pool opens.

A write's hooks (before_write, after_write, write_needs_transaction) receive its WriteContext as
an argument, so nothing travels between them in module state or context variables.
"""

from __future__ import annotations

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

    def for_write(self) -> WriteContext:
        """A fresh context for another write of the same request (nested and batched writes)."""
        return WriteContext(self.identity, self.shared, self.conn)


class WriteFold(Protocol):
    """An answer to `fold_into_write`: rows a plugin writes in the same statement as the change.

    The statement is ``WITH written AS (<the write> RETURNING *), <your CTEs> SELECT * FROM written``:
    ``ctes(written)`` returns (name, expression) pairs that read from the CTE named ``written``
    (prefix your names: several plugins' CTEs share one WITH, as PostgreSQL requires of
    data-modifying statements). Build them once per call; the engine compiles each shape once.
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
