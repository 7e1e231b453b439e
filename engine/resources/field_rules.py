"""Field rules at run time: which fields a caller may read or write, as predicates from `field_access`.

Read rules mask values inside the one SELECT (engine.sql.queries.projection); a masked field
cannot be filtered or sorted by (the 400 an unknown field gets, so the answer does not depend on
the rows). Write rules are checked, before the write, against the row as it would be stored,
evaluated by PostgreSQL on `jsonb_populate_record(NULL::<table>, $row)`: the same predicates as
reads, so a path rule means the same thing for both.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from sqlglot import exp

from engine.kernel.errors import BadRequest, Forbidden
from engine.resources.listing import ListQuery, unknown_parameter
from engine.spec import Resource
from engine.sql.compiled import Compiled, param
from engine.sql.ddl import ident, table
from engine.sql.queries import Masks, Predicate, ResourceQueries, bind_predicates

ROW_PARAM = "w_row"


def merge(results: list[Any]) -> dict[str, Predicate]:
    """The hook's answers as one dict; a field several plugins restrict needs all their predicates."""
    merged: dict[str, Predicate] = {}
    for result in results:
        for name, predicate in (result or {}).items():
            merged[name] = predicate if name not in merged else _both(merged[name], predicate)
    return merged


def _both(a: Predicate, b: Predicate) -> Predicate:
    """Both predicates (AND): a row known to satisfy each satisfies it; one satisfying it has what each requires."""
    holds_if = None if a.holds_if is None or b.holds_if is None else a.holds_if + b.holds_if
    return Predicate(
        (a.key, b.key),
        lambda t: exp.and_(a.build(t), b.build(t)),
        {**a.params, **b.params},
        holds_if=holds_if,
        requires=a.requires + b.requires,
    )


def refuse_hidden(resource: Resource, query: ListQuery, masks: Masks) -> None:
    """400 for a filter or sort on a field with a read rule, worded like an unknown field's."""
    hidden = {name for name, _ in masks}
    for f in query.filters:
        if f.field in hidden:
            key = f.field if f.op == "eq" else f"{f.field}[{f.op}]"
            raise BadRequest(unknown_parameter(resource, f.field), parameter=key)
    for k in query.sort:
        if k.field in hidden:
            known = ", ".join(n for n in resource.fields if n not in hidden)
            raise BadRequest(f"unknown field {k.field!r} in 'sort'; fields are: {known}", parameter="sort")


def _as_row(resource: Resource) -> exp.Table:
    row_type = exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=table(resource.table))
    record = exp.Anonymous(
        this="jsonb_populate_record",
        expressions=[exp.Cast(this=exp.Null(), to=row_type), exp.Cast(this=param(ROW_PARAM), to="jsonb")],
    )
    return exp.Table(this=record, alias=exp.TableAlias(this=ident(resource.table)))


def _check_statement(queries: ResourceQueries, rules: tuple[tuple[str, Predicate], ...]) -> Compiled:
    """SELECT <rule> AS w0, ... FROM jsonb_populate_record(NULL::<table>, $row) AS <table>."""
    resource = queries.resource

    def build() -> exp.Expression:
        flags = [exp.alias_(p.build(resource.table), f"w{i}", quoted=True) for i, (_, p) in enumerate(rules)]
        return exp.select(*flags).from_(_as_row(resource))

    return queries.compiled(("field_writes", tuple((n, p.key) for n, p in rules)), build)


def new_row(resource: Resource, data: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """The row as it would be stored, as JSON: the previous row with the change, or the new values
    with the schema's defaults (the database fills those only on insert)."""
    if previous is not None:
        return orjson.loads(orjson.dumps({**previous, **data}, default=str))
    defaults = {n: f.default for n, f in resource.fields.items() if f.has_default and n not in data}
    return orjson.loads(orjson.dumps({**defaults, **data}, default=str))


async def check_writes(
    conn: asyncpg.Connection,
    queries: ResourceQueries,
    rules: dict[str, Predicate],
    data: dict[str, Any],
    previous: dict[str, Any] | None,
) -> None:
    """403 naming the first written field whose write rule the new row fails."""
    written = tuple((name, rules[name]) for name in data if name in rules)
    if not written:
        return
    compiled = _check_statement(queries, written)
    values = bind_predicates(tuple(p for _, p in written), {ROW_PARAM: new_row(queries.resource, data, previous)})
    record = await conn.fetchrow(compiled.sql, *compiled.args(values))
    for i, (name, _) in enumerate(written):
        if not record[f"w{i}"]:
            raise Forbidden(f"you may not set {name!r} to this value on this {queries.resource.name} row")


async def readable(conn: asyncpg.Connection, queries: ResourceQueries, masks: Masks, row: dict[str, Any]) -> set[str]:
    """The masked fields the caller may read on `row` (a row just written, so not read through a SELECT)."""
    compiled = _check_statement(queries, masks)
    values = bind_predicates(tuple(p for _, p in masks), {ROW_PARAM: orjson.loads(orjson.dumps(row, default=str))})
    record = await conn.fetchrow(compiled.sql, *compiled.args(values))
    return {name for i, (name, _) in enumerate(masks) if record[f"w{i}"]}
