"""The SQL of soft deletion: which rows are alive, bringing one back, and purging the old dead.

`deleted_at IS NULL` joins every access predicate of the resource (`access_predicates`), so a
deleted row is absent wherever reads are compiled: lists, reads, includes and embedded links,
nested routes, the rows a write may touch, and anything built on the same predicates. The
DELETE itself becomes an UPDATE setting `deleted_at` (engine.sql.queries.ResourceQueries.delete).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import asyncpg
from sqlglot import exp

from engine.spec import Resource
from engine.sql import references
from engine.sql.compiled import Compiled, ShapeCache, param
from engine.sql.ddl import column, table
from engine.sql.outputs import outputs
from engine.sql.queries import Predicate
from engine.sql.references import LiveReference

log = logging.getLogger("engine.soft_delete")
ALIVE_KEY = "soft_delete.alive"
DEAD_KEY = "soft_delete.deleted"


def _deleted(resource: Resource, t: str) -> exp.Expression:
    assert resource.soft_delete is not None
    return exp.Is(this=column(resource.soft_delete.column, t), expression=exp.Null())


@lru_cache(maxsize=256)  # one per resource, shared by every caller's answers (the access memo keeps them per caller)
def alive(resource: Resource) -> Predicate:
    """Rows not deleted: ANDed into every query of the resource."""
    return Predicate((ALIVE_KEY,), lambda t: _deleted(resource, t))


def dead(resource: Resource) -> Predicate:
    return Predicate((DEAD_KEY,), lambda t: exp.Not(this=_deleted(resource, t)))


def deleted_only(resource: Resource, predicates: tuple[Predicate, ...]) -> tuple[Predicate, ...]:
    """The caller's predicates with "not deleted" turned into "deleted" (the rest of the rules stay)."""
    return (*(p for p in predicates if p.key != (ALIVE_KEY,)), dead(resource))


class Rows:
    """One soft-deleting resource's own statements."""

    def __init__(self, resource: Resource):
        assert resource.soft_delete is not None
        self.resource = resource
        self.column = resource.soft_delete.column
        self._cache = ShapeCache(64)

    def revive(self, live: tuple[LiveReference, ...] = ()) -> Compiled:
        """UPDATE ... SET deleted_at = NULL WHERE pk = $pk RETURNING the row (secrets masked); with
        `live` references (to soft-deleting resources), only if none of the row's points at a
        deleted row: no row comes back otherwise (engine.sql.references)."""

        def build() -> exp.Expression:
            r = self.resource
            own = {ref.column: self._own(ref) for ref in live}
            where = exp.and_(column(r.primary_key, r.table).eq(param("pk")), *references.alive(live, own))
            update = exp.Update(
                this=table(r.table), expressions=[exp.EQ(this=column(self.column), expression=exp.Null())]
            ).where(where)
            return update.returning(exp.Returning(expressions=outputs(r, r.columns, r.table)))

        return self._cache.get("revive", build)

    def _own(self, ref: LiveReference) -> exp.Expression:
        """The row's value of a reference; a row referencing itself (a self-reference) is not held
        back by its own deletion (``NULLIF(col, pk)``)."""
        r = self.resource
        value = column(ref.column, r.table)
        if ref.table != r.table:
            return value
        return exp.Nullif(this=value, expression=column(r.primary_key, r.table))

    def _expired(self) -> exp.Expression:
        interval = exp.Mul(this=param("age"), expression=exp.Interval(this=exp.Literal.string("1 second")))
        cutoff = exp.Sub(this=exp.Anonymous(this="now", expressions=[]), expression=interval)
        return column(self.column) < cutoff

    def _purge(self) -> Compiled:
        return self._cache.get("purge", lambda: exp.delete(table(self.resource.table)).where(self._expired()))

    def _expired_keys(self) -> Compiled:
        pk = self.resource.primary_key
        return self._cache.get(
            "expired", lambda: exp.select(column(pk)).from_(table(self.resource.table)).where(self._expired())
        )

    def _purge_one(self) -> Compiled:
        def build() -> exp.Expression:
            one = column(self.resource.primary_key).eq(param("pk"))
            return exp.delete(table(self.resource.table)).where(exp.and_(one, self._expired()))

        return self._cache.get("purge_one", build)

    async def purge(self, conn: asyncpg.Connection) -> int:
        """Remove the rows deleted longer ago than `purge_after` (references cascade as declared).

        One statement; when a restricting reference (`on_delete: restrict`) still points at one of
        them, that statement fails as a whole, so each row is then removed on its own and the rows
        still referenced are kept (until the reference goes), not every row of the resource."""
        age = self.resource.soft_delete.purge_after if self.resource.soft_delete else None
        if age is None:
            return 0
        compiled = self._purge()
        try:
            async with conn.transaction():
                status = await conn.execute(compiled.sql, *compiled.args({"age": age}))
            return int(status.split()[-1])
        except asyncpg.ForeignKeyViolationError:
            return await self._purge_each(conn, age)

    async def _purge_each(self, conn: asyncpg.Connection, age: int) -> int:
        keys = self._expired_keys()
        one = self._purge_one()
        removed = kept = 0
        for record in await conn.fetch(keys.sql, *keys.args({"age": age})):
            try:
                async with conn.transaction():
                    status = await conn.execute(one.sql, *one.args({"pk": record[0], "age": age}))
                removed += int(status.split()[-1])
            except asyncpg.ForeignKeyViolationError:
                kept += 1
        if kept:
            log.warning(
                "kept %d deleted row(s) of %s that a restricting reference still points at", kept, self.resource.name
            )
        return removed
