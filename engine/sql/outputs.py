"""What a statement hands back for each column: the column itself, or a secret's mask.

A `writeOnly` field (engine/features/secrets) is stored encrypted and must never leave the
database through a read: every SELECT and RETURNING of a resource row projects it through
`output`, which replaces the value by what is set. A string secret reads "set" (null when
unset); an object of secrets reads {"entry": "set", ...} (its entry names, never their values).
Masking here, in the SQL, covers every path that returns rows (reads, lists, embeds, write
answers, the rows write hooks and events see) without each of them having to remember.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp

from engine.spec import Resource
from engine.sql.ddl import column, ident

SET = "set"


def _fn(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _mask(value: exp.Expression, sql_type: str) -> exp.Expression:
    if sql_type == "jsonb":
        entries = exp.Table(this=_fn("jsonb_object_keys", value), alias=exp.TableAlias(this=ident("entry")))
        names = exp.select(_fn("jsonb_object_agg", exp.column(ident("entry")), exp.Literal.string(SET))).from_(entries)
        empty = exp.Cast(this=exp.Literal.string("{}"), to=exp.DataType.build("jsonb"))
        shown: exp.Expression = _fn("coalesce", exp.Subquery(this=names), empty)
    else:
        shown = exp.Literal.string(SET)
    return exp.Case(ifs=[exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null())], default=shown)


def shown(resource: Resource, name: str, table_name: str | None = None) -> exp.Expression:
    """The column `name` as a reader may see it (its mask when it is a secret), without an alias."""
    col = column(name, table_name)
    field = resource.fields.get(name)
    return _mask(col, field.sql_type) if field is not None and field.write_only else col


def output(resource: Resource, name: str, table_name: str | None = None) -> exp.Expression:
    """The column `name` as a statement returns it: masked (under its own name) when it is a secret."""
    field = resource.fields.get(name)
    if field is None or not field.write_only:
        return column(name, table_name)
    return exp.alias_(shown(resource, name, table_name), ident(name))


def outputs(resource: Resource, names: Iterable[str], table_name: str | None = None) -> list[exp.Expression]:
    return [output(resource, name, table_name) for name in names]


def has_secrets(resource: Resource) -> bool:
    return any(field.write_only for field in resource.fields.values())
