"""Counts and grouped aggregates over the rows a list would return, one statement per shape.

They share the list's WHERE clause (its filters plus every predicate: access rules, boolean
groups, search), so a count or a group can never include a row the list would hide.
"""

from __future__ import annotations

from collections.abc import Hashable

from sqlglot import exp

from engine.sql.compiled import Compiled, param
from engine.sql.ddl import column, ident, table
from engine.sql.queries import Filter, Predicate, ResourceQueries, _condition

FUNCTIONS = ("sum", "avg", "min", "max")
GRANULARITIES = ("day", "week", "month")
NUMERIC = ("bigint", "double precision")
ORDERED = (*NUMERIC, "timestamptz", "text")
COUNT_LIMIT = "count_limit"  # the bound of a count that stops at a threshold
GROUP_LIMIT = "group_limit"


def function_applies(function: str, sql_type: str) -> bool:
    """sum and avg add numbers; min and max compare numbers, date-times and text."""
    return sql_type in (NUMERIC if function in ("sum", "avg") else ORDERED)


def output_name(function: str, field: str | None) -> str:
    """The key of an aggregate in each group: `count`, `sum_price`, `max_created_at`."""
    return function if field is None else f"{function}_{field}"


def _where(queries: ResourceQueries, filters: tuple[Filter, ...], predicates: tuple[Predicate, ...]):
    t = queries.table
    conditions = [_condition(column(f.field, t), f.op, f"f{i}", f.shape[2]) for i, f in enumerate(filters)]
    conditions += [p.build(t) for p in predicates]
    return exp.and_(*conditions) if conditions else None


def _shape(kind: str, filters: tuple[Filter, ...], predicates: tuple[Predicate, ...], *more: Hashable) -> tuple:
    return (kind, tuple(f.shape for f in filters), tuple(p.key for p in predicates), *more)


def _rows(queries: ResourceQueries, filters: tuple[Filter, ...], predicates: tuple[Predicate, ...]) -> exp.Select:
    query = exp.select(exp.Literal.number(1)).from_(table(queries.table))
    where = _where(queries, filters, predicates)
    return query.where(where) if where is not None else query


def count(queries: ResourceQueries, filters: tuple[Filter, ...], predicates: tuple[Predicate, ...]) -> Compiled:
    """SELECT count(*) of the matching rows."""

    def build() -> exp.Expression:
        query = exp.select(exp.Count(this=exp.Star())).from_(table(queries.table))
        where = _where(queries, filters, predicates)
        return query.where(where) if where is not None else query

    return queries.compiled(_shape("count", filters, predicates), build)


def count_upto(queries: ResourceQueries, filters: tuple[Filter, ...], predicates: tuple[Predicate, ...]) -> Compiled:
    """The count, but reading at most `count_limit` rows: cheap on a large match (`count=estimated`)."""

    def build() -> exp.Expression:
        inner = _rows(queries, filters, predicates).limit(param(COUNT_LIMIT)).subquery("_counted")
        return exp.select(exp.Count(this=exp.Star())).from_(inner)

    return queries.compiled(_shape("count_upto", filters, predicates), build)


def matching(queries: ResourceQueries, filters: tuple[Filter, ...], predicates: tuple[Predicate, ...]) -> Compiled:
    """SELECT 1 of the matching rows: what EXPLAIN estimates for `count=planned`."""
    return queries.compiled(_shape("matching", filters, predicates), lambda: _rows(queries, filters, predicates))


def _group_key(field: str, unit: str | None, t: str) -> exp.Expression:
    col = column(field, t)
    if unit is None:
        return col
    # In UTC, so a day is the same day whatever the session's time zone.
    return exp.Anonymous(this="date_trunc", expressions=[exp.Literal.string(unit), col, exp.Literal.string("UTC")])


def _aggregate(function: str, field: str | None, t: str) -> exp.Expression:
    if field is None:
        return exp.Count(this=exp.Star())
    call = exp.Anonymous(this=function, expressions=[column(field, t)])
    if function in ("sum", "avg"):  # numeric would arrive as Decimal: JSON wants a number
        return exp.Cast(this=call, to=exp.DataType.build("double precision"))
    return call


def grouped(
    queries: ResourceQueries,
    filters: tuple[Filter, ...],
    predicates: tuple[Predicate, ...],
    group_by: tuple[tuple[str, str | None], ...],
    aggregates: tuple[tuple[str, str | None], ...],
) -> Compiled:
    """SELECT <keys>, <aggregates> ... GROUP BY <keys> ORDER BY <keys> LIMIT group_limit."""
    t = queries.table

    def build() -> exp.Expression:
        keys = [exp.alias_(_group_key(f, u, t), f, quoted=True) for f, u in group_by]
        values = [exp.alias_(_aggregate(fn, f, t), output_name(fn, f), quoted=True) for fn, f in aggregates]
        query = exp.select(*keys, *values).from_(table(t))
        where = _where(queries, filters, predicates)
        if where is not None:
            query = query.where(where)
        if group_by:
            positions = [exp.Literal.number(i + 1) for i in range(len(group_by))]
            query = query.group_by(*positions).order_by(
                *[exp.Ordered(this=exp.column(ident(f)), nulls_first=False) for f, _ in group_by]
            )
        return query.limit(param(GROUP_LIMIT))

    return queries.compiled(_shape("grouped", filters, predicates, group_by, aggregates), build)
