"""DDL as sqlglot expressions, built from table models (see engine.migrations.model).

Identifiers come only from the spec and are always quoted, so a column called "order" or
"user" is as safe as any other.
"""

from __future__ import annotations

import json
from typing import Any

import sqlglot
from sqlglot import ErrorLevel, exp

DIALECT = "postgres"


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def table(name: str) -> exp.Table:
    return exp.Table(this=ident(name))


def column(name: str, table_name: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table_name) if table_name else None)


def literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def default_expression(default: dict[str, Any]) -> exp.Expression:
    kind = default["kind"]
    if kind == "uuid":
        return exp.Anonymous(this="gen_random_uuid", expressions=[])
    if kind == "now":
        return exp.Anonymous(this="now", expressions=[])
    if kind == "transaction_clock":  # internal tables: the event order (see transaction_clock)
        return transaction_clock()
    value, sql_type = default["value"], default["type"]
    if sql_type == "jsonb":
        return exp.Cast(this=exp.Literal.string(json.dumps(value, sort_keys=True)), to=exp.DataType.build("jsonb"))
    return literal(value)


def transaction_clock() -> exp.Expression:
    """The later of the writing transaction's id and the newest id assigned when the statement began.

    Ordering events by this value (then by id) is safe to read up to the oldest running transaction
    (it is never below a running transaction's id, and never above an id already assigned, so it
    settles once those transactions end) and keeps each row's events in commit order: a statement
    that writes a row another transaction changed before starts after that commit, so it reads a
    clock at least that transaction's id.
    """
    newest = exp.Sub(
        this=as_bigint(exp.Anonymous(this="pg_snapshot_xmax", expressions=[exp.Anonymous(this="pg_current_snapshot")])),
        expression=exp.Literal.number(1),
    )
    return exp.Greatest(this=as_bigint(exp.Anonymous(this="pg_current_xact_id", expressions=[])), expressions=[newest])


def as_bigint(value: exp.Expression) -> exp.Expression:
    return exp.Cast(this=exp.Cast(this=value, to=exp.DataType.build("text")), to=exp.DataType.build("bigint"))


def column_def(name: str, spec: dict[str, Any]) -> exp.ColumnDef:
    if spec.get("generated"):  # GENERATED ALWAYS AS (<expression from the spec>) STORED, e.g. a search vector
        generated = exp.ComputedColumnConstraint(
            this=exp.Paren(this=sqlglot.parse_one(spec["generated"], read=DIALECT))
        )
        kind = exp.DataType.build(spec["type"], dialect=DIALECT, udt=True)
        return exp.ColumnDef(this=ident(name), kind=kind, constraints=[exp.ColumnConstraint(kind=generated)])
    constraints = []
    if spec.get("default") is not None:
        constraints.append(
            exp.ColumnConstraint(kind=exp.DefaultColumnConstraint(this=default_expression(spec["default"])))
        )
    if not spec["nullable"]:
        constraints.append(exp.ColumnConstraint(kind=exp.NotNullColumnConstraint()))
    return exp.ColumnDef(
        this=ident(name), kind=exp.DataType.build(spec["type"], dialect=DIALECT), constraints=constraints
    )


def primary_key(name: str, col: str | list[str]) -> exp.Constraint:
    cols = [col] if isinstance(col, str) else col  # a list: a composite key (history tables)
    return exp.Constraint(this=ident(name), expressions=[exp.PrimaryKey(expressions=[ident(c) for c in cols])])


def check_in(name: str, col: str, values: list[Any]) -> exp.Constraint:
    condition = exp.In(this=column(col), expressions=[literal(v) for v in values])
    return exp.Constraint(this=ident(name), expressions=[exp.CheckColumnConstraint(this=condition)])


def unique(name: str, cols: list[str]) -> exp.Constraint:
    return exp.Constraint(
        this=ident(name),
        expressions=[exp.UniqueColumnConstraint(this=exp.Schema(expressions=[ident(c) for c in cols]))],
    )


def foreign_key(name: str, fk: dict[str, Any]) -> exp.Constraint:
    reference = exp.Reference(
        this=exp.Schema(this=table(fk["ref_table"]), expressions=[ident(fk["ref_column"])]),
        options=[f"ON DELETE {fk['on_delete'].upper()}"],
    )
    return exp.Constraint(
        this=ident(name), expressions=[exp.ForeignKey(expressions=[ident(fk["column"])], reference=reference)]
    )


def create_table(model: dict[str, Any]) -> exp.Create:
    name = model["table"]
    parts: list[exp.Expression] = [column_def(c, s) for c, s in model["columns"].items()]
    parts.append(primary_key(f"{name}_pkey", model["primary_key"]))
    parts += [check_in(n, c["column"], c["values"]) for n, c in model["checks"].items()]
    parts += [unique(n, cols) for n, cols in model["unique"].items()]
    parts += [foreign_key(n, fk) for n, fk in model["foreign_keys"].items()]
    return exp.Create(this=exp.Schema(this=table(name), expressions=parts), kind="TABLE")


def create_index(name: str, table_name: str, cols: list[list[Any]] | dict[str, str]) -> exp.Create:
    if isinstance(cols, dict):  # an expression index, e.g. full-text search: {"using": "gin", "expression": sql}
        return expression_index(name, table_name, cols["using"], cols["expression"])
    ordered = [exp.Ordered(this=column(c), desc=bool(desc), nulls_first=bool(desc)) for c, desc in cols]
    return exp.Create(
        this=exp.Index(this=ident(name), table=table(table_name), params=exp.IndexParameters(columns=ordered)),
        kind="INDEX",
    )


def expression_index(name: str, table_name: str, using: str, expression: str) -> exp.Create:
    """CREATE INDEX name ON table USING <method> ((<expression>)); the expression text comes from the spec."""
    column_expr = exp.Ordered(this=exp.Paren(this=sqlglot.parse_one(expression, read=DIALECT)), nulls_first=False)
    params = exp.IndexParameters(using=exp.var(using.upper()), columns=[column_expr])
    return exp.Create(this=exp.Index(this=ident(name), table=table(table_name), params=params), kind="INDEX")


def create_partial_unique(name: str, table_name: str, cols: list[str], where_null: str) -> exp.Create:
    """CREATE UNIQUE INDEX ... WHERE <where_null> IS NULL: unique among the rows not soft-deleted."""
    where = exp.Where(this=exp.Is(this=column(where_null), expression=exp.Null()))
    params = exp.IndexParameters(columns=[exp.Ordered(this=column(c)) for c in cols], where=where)
    return exp.Create(
        this=exp.Index(this=ident(name), table=table(table_name), params=params), kind="INDEX", unique=True
    )


def drop_index(name: str) -> exp.Drop:
    return exp.Drop(tables=[table(name)], kind="INDEX", exists=True)


def drop_table(name: str) -> exp.Drop:
    return exp.Drop(tables=[table(name)], kind="TABLE", exists=True)


def alter(table_name: str, *actions: exp.Expression) -> exp.Alter:
    return exp.Alter(this=table(table_name), kind="TABLE", actions=list(actions))


def add_column(table_name: str, name: str, spec: dict[str, Any]) -> exp.Alter:
    return alter(table_name, column_def(name, spec))


def rename_column(table_name: str, name: str, to: str) -> exp.Alter:
    return alter(table_name, exp.RenameColumn(this=column(name), to=ident(to)))


def rename_key(table_name: str, name: str, key: str, to: str) -> exp.Update:
    """Move `key` to `to` in the jsonb objects of column `name` (a renamed field in stored versions)."""
    value = exp.JSONExtract(this=column(name), expression=literal(key))
    without = exp.Paren(this=exp.Sub(this=column(name), expression=literal(key)))
    moved = exp.DPipe(
        this=without, expression=exp.Anonymous(this="jsonb_build_object", expressions=[literal(to), value])
    )
    return exp.Update(
        this=table(table_name),
        expressions=[exp.EQ(this=column(name), expression=moved)],
        where=exp.Where(this=exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))),
    )


def drop_column(table_name: str, name: str) -> exp.Alter:
    return alter(table_name, exp.Drop(tables=[column(name)], kind="COLUMN"))


def set_nullable(table_name: str, name: str, nullable: bool) -> exp.Alter:
    if nullable:
        return alter(table_name, exp.AlterColumn(this=ident(name), drop=True, allow_null=True))
    return alter(table_name, exp.AlterColumn(this=ident(name), allow_null=False))


def fill_default(table_name: str, name: str, default: dict[str, Any]) -> exp.Update:
    """Give the rows without a value in `name` its default (before requiring a value there)."""
    return exp.Update(
        this=table(table_name),
        expressions=[exp.EQ(this=column(name), expression=default_expression(default))],
        where=exp.Where(this=exp.Is(this=column(name), expression=exp.Null())),
    )


def delete_where_not_null(table_name: str, name: str) -> exp.Delete:
    return exp.Delete(
        this=table(table_name), where=exp.Where(this=exp.Not(this=exp.Is(this=column(name), expression=exp.Null())))
    )


def set_default(table_name: str, name: str, default: dict[str, Any] | None) -> exp.Alter:
    if default is None:
        return alter(table_name, exp.AlterColumn(this=ident(name), drop=True))
    return alter(table_name, exp.AlterColumn(this=ident(name), default=default_expression(default)))


# PostgreSQL casts boolean to and from integer only, not bigint: such a change goes through integer.
_THROUGH_INTEGER = ({"boolean", "bigint"}, {"boolean", "double precision"})


def set_type(table_name: str, name: str, sql_type: str, from_type: str | None = None) -> exp.Alter:
    kind = exp.DataType.build(sql_type, dialect=DIALECT)
    value: exp.Expression = column(name)
    if {from_type, sql_type} in _THROUGH_INTEGER:
        value = exp.Cast(this=value, to=exp.DataType.build("integer"))
    return alter(table_name, exp.AlterColumn(this=ident(name), dtype=kind, using=exp.Cast(this=value, to=kind.copy())))


def add_constraint(table_name: str, constraint: exp.Constraint) -> exp.Alter:
    return alter(table_name, exp.AddConstraint(expressions=[constraint]))


def drop_constraint(table_name: str, name: str) -> exp.Alter:
    return alter(table_name, exp.Drop(tables=[table(name)], kind="CONSTRAINT", exists=True))


def render(expression: exp.Expression) -> str:
    # sqlglot flags "SET NOT NULL" as unsupported in the generic generator, yet renders it right.
    return expression.sql(dialect=DIALECT, unsupported_level=ErrorLevel.IGNORE)
