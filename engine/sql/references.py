"""References to soft-deleting resources: a write may point one only at a row that is not deleted.

A foreign key sees a soft-deleted row (`soft_delete:`) as there. So a write that sets such a
reference carries, in its own statement, the condition that the row it points at is not deleted:
``NOT EXISTS (SELECT FROM <target> AS _ref WHERE _ref.<pk> = <value> AND _ref.deleted_at IS NOT
NULL)``. A write the condition stops changes nothing and returns no row; only then does the
engine ask which reference it was (`dead_references`), to answer as the foreign key answers a
missing row. A statement of a resource none of whose references points at a soft-deleting
resource is unchanged: no condition, no extra statement.

As with the foreign key, an UPDATE checks a reference only when it changes it: a row keeps a
reference to a row deleted after it was written (it goes with that row's purge, as declared).

Concurrency: the condition reads the target in the write's own snapshot. A soft delete committed
while the write runs is ordered after it (the delete reads nothing of the rows referencing it),
so every outcome is that of the two run one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from engine.spec import Resource, Spec
from engine.sql.compiled import param
from engine.sql.ddl import column, ident, table

REF = "_ref"  # the alias of the referenced table inside a condition
INPUT = "_refs_in"
ORDINAL = "_refs_ord"


@dataclass(frozen=True)
class LiveReference:
    """A reference whose target soft-deletes: `column` of the writing resource -> `target`'s key."""

    column: str
    sql_type: str  # of the column (and of the target's primary key)
    target: str  # the target resource, as problems name it
    table: str
    key: str
    deleted: str  # the target's soft_delete column


def live_references(spec: Spec, resource: Resource) -> tuple[LiveReference, ...]:
    """The references of `resource` whose target declares `soft_delete:` (most resources: none)."""
    found = []
    for name, reference in resource.references.items():
        target = spec.resources[reference.resource]
        if target.soft_delete is not None:
            sql_type = resource.fields[name].sql_type
            found.append(
                LiveReference(name, sql_type, target.name, target.table, target.primary_key, target.soft_delete.column)
            )
    return tuple(found)


def written(live: tuple[LiveReference, ...], columns: tuple[str, ...]) -> tuple[LiveReference, ...]:
    """The live references among the columns a write sets."""
    return tuple(ref for ref in live if ref.column in columns)


def points_at_deleted(ref: LiveReference, value: exp.Expression, many: bool = False) -> exp.Expression:
    """Whether `value` (`many`: an element of the array `value`) is the key of a deleted row of the
    target; false for null and for a missing row (the foreign key answers for that one)."""
    target = table(ref.table)
    target.set("alias", exp.TableAlias(this=ident(REF)))
    key = column(ref.key, REF)
    match = key.eq(exp.Any(this=exp.Paren(this=value))) if many else key.eq(value)
    deleted = exp.Not(this=exp.Is(this=column(ref.deleted, REF), expression=exp.Null()))
    return exp.Exists(this=exp.select(exp.Literal.number(1)).from_(target).where(exp.and_(match, deleted)))


def alive(
    refs: tuple[LiveReference, ...], value: dict[str, exp.Expression], many: bool = False
) -> list[exp.Expression]:
    """One condition per reference: the value written for it (`many`: every value of the array
    written for it) points at no deleted row."""
    return [exp.Not(this=points_at_deleted(ref, value[ref.column], many)) for ref in refs]


def alive_or_kept(refs: tuple[LiveReference, ...], value: dict[str, exp.Expression], t: str) -> list[exp.Expression]:
    """For an UPDATE of table `t`: each reference keeps its value, or the new one points at no deleted row."""
    return [
        exp.or_(column(ref.column, t).eq(value[ref.column]), exp.Not(this=points_at_deleted(ref, value[ref.column])))
        for ref in refs
    ]


def typed(name: str, sql_type: str) -> exp.Expression:
    """``CAST(:name AS <type>)``: a value in a SELECT list has no column to take its type from."""
    return exp.Cast(this=param(name), to=exp.DataType.build(sql_type, dialect="postgres"))


def typed_array(name: str, sql_type: str) -> exp.Expression:
    """``CAST(:name AS <type>[])``: one array parameter holding a column's values for many rows."""
    return exp.Cast(this=param(name), to=exp.DataType.build(f"{sql_type}[]", dialect="postgres"))


def dead_references(refs: tuple[LiveReference, ...]) -> exp.Expression:
    """For rows of values (``r_<column>``: one array per reference, an element per row): per row, in
    order, whether each reference's value points at a deleted row."""
    arrays = [typed_array(f"r_{ref.column}", ref.sql_type) for ref in refs]
    source = exp.Unnest(
        expressions=arrays,
        alias=exp.TableAlias(this=ident(INPUT), columns=[ident(ref.column) for ref in refs]),
        offset=ident(ORDINAL),
    )
    flags = [exp.alias_(points_at_deleted(ref, column(ref.column, INPUT)), ref.column, quoted=True) for ref in refs]
    return exp.select(*flags).from_(source).order_by(column(ORDINAL, INPUT))
