"""One compiled statement per query shape of a resource.

A shape is everything that changes the SQL text (filtered fields and operators, sort, projection,
cursor nullness, access predicates); values never do. Shapes are built with sqlglot once and
cached, so a request costs a dict lookup plus parameter binding.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from engine.spec import Resource
from engine.sql.compiled import Compiled, ShapeCache, param
from engine.sql.ddl import column, table
from engine.sql.outputs import has_secrets, output, outputs, shown
from engine.sql.references import LiveReference, alive, alive_or_kept, typed, typed_array, written

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "like", "ilike", "is", "contains")
IS_VALUES = ("null", "not_null", "true", "false")


@dataclass(frozen=True)
class Link:
    """How a row was reached in a statement: through `alias`, a row of `table` whose `column` equals
    the row's `key` column (a many-to-many link joined to its far-side row, engine.features.relations)."""

    alias: str
    table: str
    column: str
    key: str


@dataclass(frozen=True, slots=True)  # slots: the access memo keeps thousands (resources.manager)
class Predicate:
    """A WHERE fragment from an access rule: `key` names its shape, `build` makes it, `params` bind it.

    `through`, optional, builds the same predicate for a row reached through a `Link`; it may add a
    cheaper condition on the link row that implies the predicate (never one that widens it), for
    example "this link's team has the caller as an active member" before "the row is in the set of
    everything the caller's teams hold" (engine.features.access.rules).

    `holds_if` and `requires` let a write skip asking about a row whose columns it already knows
    (the owner of a row the caller creates is the caller): `holds_if`, (column, value) pairs a row
    that has them all satisfies the predicate with (None: none known; (): every row does);
    `requires`, pairs every row that satisfies it has. Both may only ever be left out, never wrong.
    """

    key: Hashable
    build: Callable[[str], exp.Expression] = field(compare=False, hash=False)
    params: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    through: Callable[[str, Link], exp.Expression] | None = field(default=None, compare=False, hash=False)
    holds_if: tuple[tuple[str, Any], ...] | None = field(default=None, compare=False, hash=False)
    requires: tuple[tuple[str, Any], ...] = field(default=(), compare=False, hash=False)

    def holds_for(self, row: Mapping[str, Any]) -> bool:
        """Whether the predicate is known to hold for a row with these column values (False: not
        known, the database must be asked)."""
        return self.holds_if is not None and all(
            name in row and row[name] == value and row[name] is not None for name, value in self.holds_if
        )

    def build_through(self, table_name: str, link: Link) -> exp.Expression:
        """The predicate on `table_name`, whose row `link` reaches."""
        return self.build(table_name) if self.through is None else self.through(table_name, link)


@dataclass(frozen=True)
class Columns:
    """Expressions a read adds to its select list, on the row's own table (the includes of a read,
    engine.features.relations): `key` names their shape for the statement cache, `build(table)`
    makes them (each aliased), `params` bind them (names that no predicate uses)."""

    key: Hashable
    build: Callable[[str], list[exp.Expression]] = field(compare=False, hash=False)
    params: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


def bind_predicates(predicates: tuple[Predicate, ...], values: dict[str, Any]) -> dict[str, Any]:
    """`values` plus what the access predicates bind, as one dict for `Compiled.args`.

    Updates and returns `values`; predicate parameter names are prefixed per rule, so they never
    overwrite a statement's own (pk, f0, c0, v_*, limit).
    """
    for predicate in predicates:
        values.update(predicate.params)
    return values


Masks = tuple[tuple[str, Predicate], ...]  # (field, where the caller may read it), from field rules


def mask_flag(index: int) -> str:
    """The name of the boolean column saying whether the index-th masked field may be shown."""
    return f"_shown_{index}"


def projection(fields: tuple[str, ...], masks: Masks, t: str, resource: Resource) -> list[exp.Expression]:
    """The select list: columns (a secret as its mask, sql/outputs.py), and for a field with a read
    rule `CASE WHEN <rule> THEN col END` plus a flag telling a hidden value from a stored null (the
    caller drops the field where it is false)."""
    rules = dict(masks)
    columns: list[exp.Expression] = [
        exp.alias_(exp.Case(ifs=[exp.If(this=rules[f].build(t), true=shown(resource, f, t))]), f, quoted=True)
        if f in rules
        else output(resource, f, t)
        for f in fields
    ]
    flags = [exp.alias_(p.build(t), mask_flag(i), quoted=True) for i, (f, p) in enumerate(masks) if f in fields]
    return columns + flags


def mask_key(masks: Masks) -> tuple:
    return tuple((f, p.key) for f, p in masks)


def drop_hidden(rows: list[dict[str, Any]], masks: Masks) -> None:
    """Remove from each row the masked fields its flag hides, and the flags."""
    for i, (name, _) in enumerate(masks):
        flag = mask_flag(i)
        for row in rows:
            if flag in row and not row.pop(flag):
                del row[name]


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    value: Any  # already parsed to the column's Python type; for `is`, one of IS_VALUES

    @property
    def shape(self) -> tuple[str, str, Any]:
        return (self.field, self.op, self.value if self.op == "is" else None)


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


def _condition(col: exp.Column, op: str, name: str, shape_value: Any) -> exp.Expression:
    value = param(name)
    if op == "eq":
        return col.eq(value)
    if op == "ne":
        return exp.NullSafeNEQ(this=col, expression=value)
    if op in ("lt", "lte", "gt", "gte"):
        return {"lt": col < value, "lte": col <= value, "gt": col > value, "gte": col >= value}[op]
    if op == "in":
        return col.eq(exp.Any(this=exp.Paren(this=value)))
    if op in ("like", "ilike"):
        cls = exp.Like if op == "like" else exp.ILike
        return exp.Escape(this=cls(this=col, expression=value), expression=exp.Literal.string("\\"))
    if op == "contains":
        return exp.ArrayContainsAll(this=col, expression=exp.Cast(this=value, to=exp.DataType.build("jsonb")))
    if op == "is":
        target = exp.Null() if shape_value in ("null", "not_null") else exp.Boolean(this=shape_value == "true")
        test = exp.Is(this=col, expression=target)
        return exp.Not(this=test) if shape_value == "not_null" else test
    raise ValueError(f"unknown operator {op}")


def _after(
    sort: tuple[SortKey, ...], nulls: tuple[bool, ...], nullable: Callable[[str], bool], t: str
) -> exp.Expression:
    """Rows strictly after the cursor position, matching PostgreSQL's NULLS LAST/FIRST defaults."""
    if len({k.descending for k in sort}) == 1 and not any(nulls) and not any(nullable(k.field) for k in sort):
        left = exp.Tuple(expressions=[column(k.field, t) for k in sort])
        right = exp.Tuple(expressions=[param(f"c{i}") for i in range(len(sort))])
        return left < right if sort[0].descending else left > right
    alternatives = []
    for i, key in enumerate(sort):
        equal_prefix = [
            exp.Is(this=column(k.field, t), expression=exp.Null())
            if nulls[j]
            else column(k.field, t).eq(param(f"c{j}"))
            for j, k in enumerate(sort[:i])
        ]
        step = _step_after(column(key.field, t), f"c{i}", key.descending, nulls[i], nullable(key.field))
        if step is not None:
            alternatives.append(exp.and_(*equal_prefix, step) if equal_prefix else step)
    return exp.or_(*alternatives) if alternatives else exp.false()


def _step_after(col: exp.Column, name: str, descending: bool, is_null: bool, nullable: bool):
    if not descending:  # ASC NULLS LAST
        if is_null:
            return None
        beyond = col > param(name)
        return exp.or_(beyond, exp.Is(this=col.copy(), expression=exp.Null())) if nullable else beyond
    if is_null:  # DESC NULLS FIRST: after a null come the non-null values
        return exp.Not(this=exp.Is(this=col, expression=exp.Null()))
    return col < param(name)


class ResourceQueries:
    """Compiled statements for one resource; one instance per app, never shared across specs."""

    def __init__(self, resource: Resource, live: tuple[LiveReference, ...] = ()):
        """`live`: the references whose target soft-deletes (engine.sql.references), which inserts
        and updates setting them check in their own statement."""
        self.resource = resource
        self.table = resource.table
        self.pk = resource.primary_key
        self.live = live
        self._cache = ShapeCache()

    def compiled(self, key: Hashable, build: Callable[[], exp.Expression]) -> Compiled:
        """A statement of this resource built elsewhere (events folded into a write), cached by shape."""
        return self._cache.get(key, build)

    def _where(self, conditions: list[exp.Expression], predicates: tuple[Predicate, ...]) -> exp.Expression | None:
        conditions = conditions + [p.build(self.table) for p in predicates]
        return exp.and_(*conditions) if conditions else None

    def _select(self, fields: tuple[str, ...], masks: Masks = ()) -> exp.Select:
        return exp.select(*projection(fields, masks, self.table, self.resource)).from_(table(self.table))

    def _returning(self, query: exp.Expression, qualified: bool = False) -> exp.Expression:
        """RETURNING every field, secrets masked (sql/outputs.py); never a search vector column.
        `qualified`: the table's own columns only (an UPDATE ... FROM has others)."""
        if not has_secrets(self.resource) and self.resource.search is None:
            if qualified:
                return query.returning(
                    exp.Returning(expressions=[exp.Column(this=exp.Star(), table=table(self.table).this)])
                )
            return query.returning("*")
        return query.returning(exp.Returning(expressions=outputs(self.resource, self.resource.columns, self.table)))

    def get(
        self,
        predicates: tuple[Predicate, ...],
        fields: tuple[str, ...],
        lock: bool = False,
        masks: Masks = (),
        extra: Columns | None = None,
    ) -> Compiled:
        def build() -> exp.Expression:
            query = self._select(fields, masks)
            if extra is not None:
                query = query.select(*extra.build(self.table))
            query = query.where(self._where([column(self.pk, self.table).eq(param("pk"))], predicates))
            return query.lock() if lock else query

        shape = ("get", tuple(p.key for p in predicates), fields, lock, mask_key(masks))
        return self._cache.get(shape if extra is None else (*shape, extra.key), build)

    def readable_keys(self, predicates: tuple[Predicate, ...]) -> Compiled:
        """``SELECT pk FROM t WHERE pk = ANY(:keys) AND <predicates>``: which of many keys name rows
        the predicates let through (references a write sets, engine.resources.references)."""

        def build() -> exp.Expression:
            keys = exp.Any(this=exp.Paren(this=typed_array("keys", self.resource.pk.sql_type)))
            found = exp.EQ(this=column(self.pk, self.table), expression=keys)
            return (
                exp.select(column(self.pk, self.table)).from_(table(self.table)).where(self._where([found], predicates))
            )

        return self._cache.get(("readable_keys", tuple(p.key for p in predicates)), build)

    def list(
        self,
        filters: tuple[Filter, ...],
        sort: tuple[SortKey, ...],
        fields: tuple[str, ...],
        cursor_nulls: tuple[bool, ...] | None,
        predicates: tuple[Predicate, ...],
        masks: Masks = (),
        rank: Predicate | None = None,
        extra: Columns | None = None,
    ) -> Compiled:
        """`rank`: a relevance expression (full-text search, engine.sql.search) selected as `_rank` and
        ordered by first, descending; its cursor condition then comes as a predicate. `extra`: more
        columns on each row (PostgreSQL computes them after the sort, for the page's rows only)."""
        shape = (
            "list",
            tuple(f.shape for f in filters),
            sort,
            fields,
            cursor_nulls,
            tuple(p.key for p in predicates),
            mask_key(masks),
            None if rank is None else rank.key,
            None if extra is None else extra.key,
        )

        def build() -> exp.Expression:
            conditions = [
                _condition(column(f.field, self.table), f.op, f"f{i}", f.shape[2]) for i, f in enumerate(filters)
            ]
            if cursor_nulls is not None:
                conditions.append(_after(sort, cursor_nulls, lambda n: self.resource.fields[n].nullable, self.table))
            query = self._select(fields, masks)
            if extra is not None:
                query = query.select(*extra.build(self.table))
            where = self._where(conditions, predicates)
            if where is not None:
                query = query.where(where)
            order = [
                exp.Ordered(this=column(k.field, self.table), desc=k.descending, nulls_first=k.descending) for k in sort
            ]
            if rank is not None:
                query = query.select(exp.alias_(rank.build(self.table), "_rank", quoted=True))
                order.insert(0, exp.Ordered(this=exp.column(exp.to_identifier("_rank", quoted=True)), desc=True))
            return query.order_by(*order).limit(param("limit"))

        return self._cache.get(shape, build)

    def insert_expression(self, columns: tuple[str, ...]) -> exp.Expression:
        """INSERT ... VALUES ... RETURNING; setting a reference to a soft-deleting resource it is
        ``INSERT ... SELECT <values> WHERE <each points at no deleted row>`` (no row when one does)."""
        target = exp.Schema(this=table(self.table), expressions=[column(c).this for c in columns])
        refs = written(self.live, columns)
        if refs:
            values = {c: typed(f"v_{c}", self.resource.fields[c].sql_type) for c in columns}
            source = exp.select(*values.values()).where(exp.and_(*alive(refs, values)))
            query = exp.insert(source, target)
        elif columns:
            query = exp.insert(exp.values([tuple(param(f"v_{c}") for c in columns)]), target)
        else:
            query = exp.Insert(this=table(self.table), expression=exp.Var(this="DEFAULT VALUES"))
        return self._returning(query)

    def insert(self, columns: tuple[str, ...]) -> Compiled:
        return self._cache.get(("insert", columns), lambda: self.insert_expression(columns))

    def _assignments(self, columns: tuple[str, ...]) -> list[exp.Expression]:
        assignments = [exp.EQ(this=column(c), expression=param(f"v_{c}")) for c in columns]
        if "updated_at" in self.resource.fields:
            assignments.append(exp.EQ(this=column("updated_at"), expression=exp.Anonymous(this="now", expressions=[])))
        return assignments

    def _live_conditions(self, columns: tuple[str, ...]) -> list[exp.Expression]:
        """A reference the update changes must point at a row not deleted (engine.sql.references)."""
        refs = written(self.live, columns)
        if not refs:
            return []
        values = {r.column: typed(f"v_{r.column}", r.sql_type) for r in refs}
        return alive_or_kept(refs, values, self.table)

    def update_expression(
        self, columns: tuple[str, ...], predicates: tuple[Predicate, ...], unchanged: bool = False
    ) -> exp.Expression:
        """UPDATE ... RETURNING *; `unchanged` adds ``xmin = :xmin``: only the row version read before."""
        conditions = [column(self.pk, self.table).eq(param("pk"))]
        if unchanged:
            conditions.append(column("xmin", self.table).eq(param("xmin")))
        conditions += self._live_conditions(columns)
        query = exp.Update(this=table(self.table), expressions=self._assignments(columns))
        return self._returning(query.where(self._where(conditions, predicates)))

    def update_reading(
        self,
        columns: tuple[str, ...],
        predicates: tuple[Predicate, ...],
        previous: str,
        guards: tuple[exp.Expression, ...] = (),
    ) -> tuple[exp.Select, exp.Expression]:
        """An update that reads the stored row itself, for one statement: the row as `get` reads it
        with its version (the CTE named `previous`), and ``UPDATE ... FROM previous`` of that version
        only. A concurrent writer's committed change makes it change nothing (the caller then
        takes the locking path), so `previous` is always the version it changed, and what the
        statement reads besides (history's newest version number) is as current as the row.
        `guards`: conditions on `previous` the update must also meet (WriteFold.guard)."""
        key = [column(self.pk, self.table).eq(param("pk"))]
        read = (
            self._select(self.resource.columns).select(column("xmin", self.table)).where(self._where(key, predicates))
        )
        conditions = [
            column(self.pk, self.table).eq(column(self.pk, previous)),
            column("xmin", self.table).eq(column("xmin", previous)),
            *self._live_conditions(columns),
            *guards,
        ]
        query = exp.Update(
            this=table(self.table), expressions=self._assignments(columns), from_=exp.From(this=table(previous))
        )
        return read, self._returning(query.where(self._where(conditions, predicates)), qualified=True)

    def update(self, columns: tuple[str, ...], predicates: tuple[Predicate, ...]) -> Compiled:
        key = ("update", columns, tuple(p.key for p in predicates))
        return self._cache.get(key, lambda: self.update_expression(columns, predicates))

    def get_versioned(self, predicates: tuple[Predicate, ...], fields: tuple[str, ...]) -> Compiled:
        """The row and its version (``xmin``, last): what an update without a lock checks it still has."""

        def build() -> exp.Expression:
            query = self._select(fields).select(column("xmin", self.table))
            return query.where(self._where([column(self.pk, self.table).eq(param("pk"))], predicates))

        return self._cache.get(("get_versioned", tuple(p.key for p in predicates), fields), build)

    def delete(self, predicates: tuple[Predicate, ...]) -> Compiled:
        def build() -> exp.Expression:
            where = self._where([column(self.pk, self.table).eq(param("pk"))], predicates)
            if self.resource.soft_delete is not None:  # `soft_delete`: mark the row, keep it (features/soft_delete)
                now = exp.Anonymous(this="now", expressions=[])
                mark = exp.EQ(this=column(self.resource.soft_delete.column), expression=now)
                return self._returning(exp.Update(this=table(self.table), expressions=[mark]).where(where))
            return self._returning(exp.delete(table(self.table)).where(where))

        return self._cache.get(("delete", tuple(p.key for p in predicates)), build)
