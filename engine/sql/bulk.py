"""Set-based statements for writes of many rows: one statement per shape, whatever the row count.

Rows travel as one typed array per column (``unnest($1::text[], $2::jsonb[], ...) WITH
ORDINALITY``), so a thousand rows are one statement with a handful of parameters, planned once.
A column some rows leave out gets a ``p_<name>`` boolean array: where it is false the column's
declared default applies (the database default of a single INSERT), otherwise the value sent.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from engine.spec import Field, Resource
from engine.sql.compiled import param
from engine.sql.ddl import column, default_expression, ident, table
from engine.sql.outputs import outputs
from engine.sql.queries import Filter, Predicate, _condition, projection
from engine.sql.references import LiveReference, alive, alive_or_kept, written

INPUT = "_bulk_in"
ORDINAL = "_bulk_ord"


def column_default(field: Field) -> dict[str, Any] | None:
    """The column's declared default, as the table's DDL has it (engine.migrations.model)."""
    if field.engine_managed:
        return {"kind": "now"}
    if field.generated:
        return {"kind": "uuid"}
    if field.has_default:
        return {"kind": "value", "value": field.default, "type": field.sql_type}
    return None


def array_param(name: str, sql_type: str) -> exp.Expression:
    """``CAST(:name AS <type>[])``: one array parameter carrying a column's values for every row.

    jsonb values travel as text (JSON documents, see `carried`): a JSON array inside a jsonb[]
    parameter would read as another dimension of the array."""
    carried = "text" if sql_type == "jsonb" else sql_type
    return exp.Cast(this=param(name), to=exp.DataType.build(f"{carried}[]", dialect="postgres"))


def _value(name: str, sql_type: str) -> exp.Expression:
    """One row's value of an input array, back in its column's type."""
    value = column(name, INPUT)
    return exp.Cast(this=value, to=exp.DataType.build("jsonb")) if sql_type == "jsonb" else value


def _unnest(arrays: list[tuple[str, str]], names: list[str], ordinality: bool) -> exp.Unnest:
    """``unnest(<arrays>) [WITH ORDINALITY] AS _bulk_in(<names>[, _bulk_ord])``."""
    return exp.Unnest(
        expressions=[array_param(p, t) for p, t in arrays],
        alias=exp.TableAlias(this=ident(INPUT), columns=[ident(n) for n in names]),
        offset=ident(ORDINAL) if ordinality else None,
    )


def returning(resource: Resource, query: exp.Expression) -> exp.Expression:
    """RETURNING the table's own columns (secrets masked), never the input's."""
    return query.returning(exp.Returning(expressions=outputs(resource, resource.columns, resource.table)))


def insert_many(
    resource: Resource, columns: tuple[str, ...], partial: tuple[str, ...], live: tuple[LiveReference, ...] = ()
) -> exp.Expression:
    """INSERT ... SELECT FROM unnest(...) ORDER BY the input's order, RETURNING the rows in that order.

    Binds ``a_<column>`` (the values) for each of `columns` and ``p_<column>`` (sent or not) for
    each of `partial`. `columns` is never empty: with nothing sent, pass the primary key as partial.
    When a value of a `live` reference points at a soft-deleted row, no row is inserted
    (engine.sql.references): the statement may commit on its own, and writes all rows or none.
    """
    fields = resource.fields
    arrays = [(f"a_{c}", fields[c].sql_type) for c in columns] + [(f"p_{c}", "boolean") for c in partial]
    names = [f"a_{c}" for c in columns] + [f"p_{c}" for c in partial]
    selected: list[exp.Expression] = []
    for name in columns:
        value = _value(f"a_{name}", fields[name].sql_type)
        default = column_default(fields[name])
        if name in partial and default is not None:
            sent = exp.If(this=column(f"p_{name}", INPUT), true=value)
            value = exp.Case(ifs=[sent], default=default_expression(default))
        selected.append(value)
    source = exp.select(*selected).from_(_unnest(arrays, names, ordinality=True)).order_by(column(ORDINAL, INPUT))
    refs = written(live, columns)
    if refs:  # a condition on the input as a whole: PostgreSQL evaluates it once
        sent = {ref.column: array_param(f"a_{ref.column}", ref.sql_type) for ref in refs}
        source = source.where(exp.and_(*alive(refs, sent, many=True)))
    target = exp.Schema(this=table(resource.table), expressions=[ident(c) for c in columns])
    return returning(resource, exp.Insert(this=target, expression=source))


def update_many(
    resource: Resource,
    columns: tuple[str, ...],
    predicates: tuple[Predicate, ...],
    live: tuple[LiveReference, ...] = (),
) -> exp.Expression:
    """UPDATE t SET c = input.c FROM unnest(:pk, :a_c, ...) WHERE t.pk = input.pk AND <access rules>.

    Binds ``pks`` and ``a_<column>`` for each of `columns` (one element per row, in the same order).
    A row it would point at a soft-deleted row by a `live` reference it changes is not updated
    (the caller's transaction then rolls the others back).
    """
    fields, t = resource.fields, resource.table
    pk = resource.primary_key
    arrays = [("pks", fields[pk].sql_type)] + [(f"a_{c}", fields[c].sql_type) for c in columns]
    names = ["pk"] + [f"a_{c}" for c in columns]
    assignments = [exp.EQ(this=column(c), expression=_value(f"a_{c}", fields[c].sql_type)) for c in columns]
    if "updated_at" in fields and "updated_at" not in columns:
        assignments.append(exp.EQ(this=column("updated_at"), expression=exp.Anonymous(this="now", expressions=[])))
    conditions = [column(pk, t).eq(column("pk", INPUT))] + [p.build(t) for p in predicates]
    refs = written(live, columns)
    conditions += alive_or_kept(refs, {ref.column: _value(f"a_{ref.column}", ref.sql_type) for ref in refs}, t)
    query = exp.Update(this=table(t), expressions=assignments, from_=exp.From(this=_unnest(arrays, names, False)))
    return returning(resource, query.where(exp.and_(*conditions)))


def delete_many(resource: Resource, predicates: tuple[Predicate, ...]) -> exp.Expression:
    """DELETE (or, with `soft_delete`, mark deleted) the rows whose keys are in ``:pks`` and that the access
    rules still allow."""
    t, pk = resource.table, resource.primary_key
    keys = exp.Any(this=exp.Paren(this=array_param("pks", resource.fields[pk].sql_type)))
    conditions = [exp.EQ(this=column(pk, t), expression=keys)] + [p.build(t) for p in predicates]
    if resource.soft_delete is not None:  # `soft_delete`: mark the rows, keep them (as a single DELETE does)
        mark = exp.EQ(this=column(resource.soft_delete.column), expression=exp.Anonymous(this="now", expressions=[]))
        return returning(resource, exp.Update(this=table(t), expressions=[mark]).where(exp.and_(*conditions)))
    return returning(resource, exp.delete(table(t)).where(exp.and_(*conditions)))


def select_for_write(
    resource: Resource, filters: tuple[Filter, ...], predicates: tuple[Predicate, ...]
) -> exp.Expression:
    """The rows `filters` match (``f<i>`` bound) that the access rules allow, locked, at most ``:limit``.

    Ordered by primary key, so two bulk writes over the same rows lock them in the same order."""
    t = resource.table
    conditions = [_condition(column(f.field, t), f.op, f"f{i}", f.shape[2]) for i, f in enumerate(filters)]
    conditions += [p.build(t) for p in predicates]
    query = exp.select(*projection(resource.columns, (), t, resource)).from_(table(t))
    if conditions:
        query = query.where(exp.and_(*conditions))
    return query.order_by(column(resource.primary_key, t)).limit(param("limit")).lock()


def exists_by_key(resource: Resource) -> exp.Expression:
    """``SELECT true FROM t WHERE pk = $1 FOR UPDATE``: whether a row has this key, whoever may see it."""
    t = resource.table
    query = exp.select(exp.true()).from_(table(t)).where(column(resource.primary_key, t).eq(param("pk")))
    return query.lock()


def find_by_key(resource: Resource, keys: tuple[str, ...]) -> exp.Expression:
    """The primary key of the row whose `keys` columns equal ``k0, k1, ...``, locked, whoever may see it."""
    t = resource.table
    conditions = [column(name, t).eq(param(f"k{i}")) for i, name in enumerate(keys)]
    query = exp.select(column(resource.primary_key, t)).from_(table(t)).where(exp.and_(*conditions))
    return query.lock()


def readable_flags(resource: Resource, masks: tuple[tuple[str, Predicate], ...]) -> exp.Expression:
    """``SELECT pk, <read rule> AS w0, ... FROM t WHERE pk = ANY(:pks)``: which masked fields the
    caller may read on each of many rows just written (visible to the writer: committed, or in its
    own transaction)."""
    t, pk = resource.table, resource.primary_key
    flags = [exp.alias_(p.build(t), f"w{i}", quoted=True) for i, (_, p) in enumerate(masks)]
    keys = exp.Any(this=exp.Paren(this=array_param("pks", resource.fields[pk].sql_type)))
    return exp.select(column(pk, t), *flags).from_(table(t)).where(exp.EQ(this=column(pk, t), expression=keys))


MAY = "_bulk_may"
EXCLUDED = "excluded"


def _live(resource: Resource, keys: tuple[str, ...], table_name: str | None = None) -> exp.Expression | None:
    """``deleted_at IS NULL`` when `keys` is a unique key of a `soft_delete` resource: its unique
    index is partial (engine.migrations.model), deleted rows never conflict."""
    if resource.soft_delete is None or keys == (resource.primary_key,):
        return None
    return exp.Is(this=column(resource.soft_delete.column, table_name), expression=exp.Null())


def existing_by_keys(resource: Resource, keys: tuple[str, ...], predicates: tuple[Predicate, ...]) -> exp.Expression:
    """The rows holding the items' values in `keys` (``k<i>``: one array per key column, an element
    per item), whoever may see them, locked, each with its item's ordinal (``_bulk_ord``, from 1)
    and ``_bulk_may``: whether the access rules let the caller update it."""
    t, fields = resource.table, resource.fields
    names = [f"k{i}" for i in range(len(keys))]
    source = _unnest([(n, fields[k].sql_type) for n, k in zip(names, keys, strict=True)], names, ordinality=True)
    matches = [column(k, t).eq(_value(n, fields[k].sql_type)) for n, k in zip(names, keys, strict=True)]
    live = _live(resource, keys, t)
    may = exp.and_(*[p.build(t) for p in predicates]) if predicates else exp.true()
    query = (
        exp.select(
            *projection(resource.columns, (), t, resource),
            exp.alias_(column(ORDINAL, INPUT), ORDINAL, quoted=True),
            exp.alias_(may, MAY, quoted=True),
        )
        .from_(table(t))
        .join(source, on=exp.and_(*matches, *([live] if live is not None else [])))
        .order_by(column(resource.primary_key, t))
    )
    query.set("locks", [exp.Lock(update=True, expressions=[table(t)])])
    return query


def upsert_many(
    resource: Resource,
    columns: tuple[str, ...],
    partial: tuple[str, ...],
    keys: tuple[str, ...],
    changed: tuple[str, ...],
    kept: tuple[str, ...],
    predicates: tuple[Predicate, ...],
) -> exp.Expression:
    """`insert_many` + ``ON CONFLICT (keys) DO UPDATE SET <changed> WHERE pk = ANY(:expected) AND
    <access rules>``: one statement that creates the new rows and updates the existing ones.

    A row it updates must be one the caller read and may update (``expected``, the locked rows of
    `existing_by_keys`): a conflict with any other row (someone else's, or one inserted since)
    changes nothing and returns no row. A column of `kept` keeps its value in the rows whose
    primary key is in ``keep_<column>`` (their items did not send it, as a PATCH leaves it)."""
    t, fields, pk = resource.table, resource.fields, resource.primary_key
    statement = insert_many(resource, columns, partial)
    assignments = []
    for name in changed:
        value: exp.Expression = column(name, EXCLUDED)
        if name in kept:
            keep = column(pk, t).eq(exp.Any(this=exp.Paren(this=array_param(f"keep_{name}", fields[pk].sql_type))))
            value = exp.Case(ifs=[exp.If(this=keep, true=column(name, t))], default=value)
        assignments.append(exp.EQ(this=column(name), expression=value))
    if "updated_at" in fields and "updated_at" not in changed:
        assignments.append(exp.EQ(this=column("updated_at"), expression=exp.Anonymous(this="now", expressions=[])))
    expected = column(pk, t).eq(exp.Any(this=exp.Paren(this=array_param("expected", fields[pk].sql_type))))
    statement.set(
        "conflict",
        exp.OnConflict(
            conflict_keys=[ident(k) for k in keys],
            index_predicate=exp.Where(this=live) if (live := _live(resource, keys)) is not None else None,
            action=exp.var("DO UPDATE"),
            expressions=assignments,
            where=exp.Where(this=exp.and_(expected, *[p.build(t) for p in predicates])),
        ),
    )
    return statement
