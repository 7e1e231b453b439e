"""The versions of a resource's rows: the SQL that writes, reads and prunes `<table>_history`.

A version is written by the same statement as the change when the write runs alone (a CTE of the
write's one `WITH`, see `VersionFold`), or by one more statement in the write's transaction
otherwise: either way it exists exactly when the change does. Its number is the row's highest
version plus one, read by that statement: the row is locked (the transaction path) or the update
applies only to the row version it read (`xmin`, the single-statement path), so no two writers of
a row can number the same version, and a rolled-back write leaves no version behind.

The stored state is ``to_jsonb(row)`` without the `writeOnly` fields: a secret never reaches a
version, so it can never be read back or restored from one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from sqlglot import exp

from engine.kernel.identity import Identity
from engine.spec import History, Resource
from engine.sql.compiled import Compiled, ShapeCache, param
from engine.sql.ddl import column, ident, table
from engine.sql.search import columns as search_columns

ROW = "_hist_row"
PAST = {"create": "created", "update": "updated", "delete": "deleted"}
COLUMNS = ("version", "action", "at", "actor", "data")


def _fn(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _aliased(name: str, alias: str) -> exp.Table:
    source = table(name)
    source.set("alias", exp.TableAlias(this=ident(alias)))
    return source


class Versions:
    """One resource's history statements, each built once per shape."""

    def __init__(self, resource: Resource):
        self.resource = resource
        self.table = History.table_of(resource.table)
        # Left out of every version: secrets, and the search vectors (derived data, engine.sql.search).
        self.secrets = tuple(n for n, f in resource.fields.items() if f.write_only) + search_columns(resource)
        self.timestamps = tuple(n for n, f in resource.fields.items() if f.sql_type == "timestamptz")
        self._cache = ShapeCache(64)

    # --- writing --------------------------------------------------------------------------------

    def _state(self, row: str) -> exp.Expression:
        """The row as JSON, without its secrets."""
        state: exp.Expression = _fn("to_jsonb", exp.column(ident(row)))
        for name in self.secrets:
            state = exp.Sub(this=state, expression=exp.Literal.string(name))
        return state

    def _next_version(self, record: exp.Expression) -> exp.Expression:
        newest = (
            exp.select(exp.Max(this=column("version", "_hist_prev")))
            .from_(_aliased(self.table, "_hist_prev"))
            .where(column("record_id", "_hist_prev").eq(record))
        )
        return exp.Add(
            this=_fn("coalesce", exp.Subquery(this=newest), exp.Literal.number(0)), expression=exp.Literal.number(1)
        )

    def _insert(self, select: exp.Select) -> exp.Insert:
        target = exp.Schema(
            this=table(self.table), expressions=[ident(c) for c in ("record_id", "version", "action", "actor", "data")]
        )
        return exp.Insert(this=target, expression=select)

    def folded(self, written: str) -> exp.Expression:
        """The version of the row the write's CTE `written` returned (nothing when it returned none)."""
        record = column(self.resource.primary_key, ROW)
        select = exp.select(
            record, self._next_version(record.copy()), param("hist_action"), param("hist_actor"), self._state(ROW)
        ).from_(_aliased(written, ROW))
        return self._insert(select)

    def _after(self, deleted: bool) -> Compiled:
        """A version written after the change, in its transaction: the row as stored now, or the deletion."""

        def build() -> exp.Expression:
            record = exp.Cast(this=param("record"), to=exp.DataType.build(self.resource.pk.sql_type))
            if deleted:
                state: exp.Expression = exp.Null()
            else:
                stored = (
                    exp.select(self._state(ROW))
                    .from_(_aliased(self.resource.table, ROW))
                    .where(column(self.resource.primary_key, ROW).eq(record.copy()))
                )
                state = exp.Subquery(this=stored)
            return self._insert(
                exp.select(record, self._next_version(record.copy()), param("hist_action"), param("hist_actor"), state)
            )

        return self._cache.get(("after", deleted), build)

    async def write(
        self, conn: asyncpg.Connection, record_id: Any, action: str, identity: Identity | None, deleted: bool
    ) -> None:
        compiled = self._after(deleted)
        values = {"record": record_id, "hist_action": action, "hist_actor": actor(identity)}
        await conn.execute(compiled.sql, *compiled.args(values))

    # --- reading --------------------------------------------------------------------------------

    def _page(self) -> Compiled:
        def build() -> exp.Expression:
            where = exp.and_(column("record_id").eq(param("record")), column("version") < param("before"))
            return (
                exp.select(*[column(c) for c in COLUMNS])
                .from_(table(self.table))
                .where(where)
                .order_by(exp.Ordered(this=column("version"), desc=True))
                .limit(param("limit"))
            )

        return self._cache.get("page", build)

    def _one(self) -> Compiled:
        def build() -> exp.Expression:
            where = exp.and_(column("record_id").eq(param("record")), column("version").eq(param("version")))
            return exp.select(*[column(c) for c in COLUMNS]).from_(table(self.table)).where(where)

        return self._cache.get("one", build)

    async def page(self, pool: asyncpg.Pool, record_id: Any, before: int, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` versions older than `before`, newest first."""
        compiled = self._page()
        values = {"record": record_id, "before": before, "limit": limit}
        return [self._read(r) for r in await pool.fetch(compiled.sql, *compiled.args(values))]

    async def one(self, pool: asyncpg.Pool, record_id: Any, version: int) -> dict[str, Any] | None:
        compiled = self._one()
        found = await pool.fetchrow(compiled.sql, *compiled.args({"record": record_id, "version": version}))
        return self._read(found) if found is not None else None

    def _read(self, record: asyncpg.Record) -> dict[str, Any]:
        """A version as the API shows it: timestamps in the data written the way rows are read
        (UTC, microseconds as orjson writes them), not as PostgreSQL's to_jsonb wrote them."""
        version = dict(record)
        data = version["data"]
        if data is not None:
            for name in self.timestamps:
                if isinstance(data.get(name), str):
                    data[name] = as_utc(data[name])
        return version

    # --- retention ------------------------------------------------------------------------------

    def _prune(self) -> Compiled:
        """Versions beyond the `keep` newest of their row, or older than `max_age` (never a row's newest)."""
        history = self.resource.history or History()

        def build() -> exp.Expression:
            newest = exp.Window(
                this=exp.RowNumber(),
                partition_by=[column("record_id")],
                order=exp.Order(expressions=[exp.Ordered(this=column("version"), desc=True)]),
            )
            ranked = exp.select(
                column("record_id"), column("version"), column("at"), exp.alias_(newest, "rank", quoted=True)
            ).from_(table(self.table))
            stale: list[exp.Expression] = []
            if history.keep is not None:
                stale.append(column("rank", "_ranked") > param("keep"))
            if history.max_age is not None:
                too_old = column("at", "_ranked") < exp.Sub(
                    this=_fn("now"),
                    expression=exp.Mul(
                        this=param("max_age"), expression=exp.Interval(this=exp.Literal.string("1 second"))
                    ),
                )
                stale.append(exp.and_(too_old, column("rank", "_ranked") > exp.Literal.number(1)))
            doomed = (
                exp.select(column("record_id", "_ranked"), column("version", "_ranked"))
                .from_(exp.Subquery(this=ranked, alias=exp.TableAlias(this=ident("_ranked"))))
                .where(exp.or_(*stale))
            )
            match = exp.In(
                this=exp.Tuple(expressions=[column("record_id", self.table), column("version", self.table)]),
                query=exp.Subquery(this=doomed),
            )
            return exp.delete(table(self.table)).where(match)

        return self._cache.get("prune", build)

    async def prune(self, conn: asyncpg.Connection) -> int:
        """Apply the declared retention; returns how many versions were removed."""
        history = self.resource.history
        if history is None or (history.keep is None and history.max_age is None):
            return 0
        compiled = self._prune()
        status = await conn.execute(compiled.sql, *compiled.args({"keep": history.keep, "max_age": history.max_age}))
        return int(status.split()[-1])


def as_utc(text: str) -> str:
    try:
        stamp = datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return text
    return orjson.dumps(stamp).decode()[1:-1]


def actor(identity: Identity | None) -> str | None:
    return identity.user_id if identity is not None else None
