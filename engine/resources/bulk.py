"""Writes of many rows: bulk create, update and delete by filter, and upserts, all or nothing.

Each row goes through what a single write does (read-only fields, `before_validate`, the JSON
Schema, field write rules, `before_write`, `after_write`, events), all or nothing (in one
transaction, or one statement when no plugin needs a transaction), while
the SQL is set-based: one INSERT ... SELECT FROM unnest(...) for any number of created rows (its
events folded into the same statement), one UPDATE ... FROM unnest(...) per distinct set of
changed columns, one DELETE ... WHERE pk = ANY(...) (upserts by a key: engine/resources/upsert.py).
Problems name the row they are about: a validation error's path starts with the item's index
(`/3/name`); a refusal by a hook carries `item` (its index) or `row` (its primary key).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from sqlglot import exp

from engine.kernel.errors import Conflict, NotFound, PayloadTooLarge, PreconditionFailed, Problem, ValidationFailed
from engine.resources import query_power
from engine.resources.context import WriteContext, WriteFold, WriteSet
from engine.resources.listing import ListQuery
from engine.resources.manager import ResourceManager, folded, readable_flags, with_flags
from engine.resources.references import dead_reference_problem, learn_targets
from engine.resources.values import from_json, to_json
from engine.sql import boolean
from engine.sql import bulk as sql
from engine.sql.queries import bind_predicates, mask_key


def json_text(value: Any) -> str:
    """A JSON document as text, as the pool's jsonb codec writes it (integers beyond 64 bits too;
    uuids and timestamps of stored rows as strings)."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return json.dumps(value, default=str)


@dataclass
class Item:
    """One row of a bulk create: its own context (notes live from its before_write to its after_write)."""

    index: int
    data: dict[str, Any]
    context: WriteContext
    columns: dict[str, Any] | None = None


@dataclass
class ItemChecks:
    """The items that passed their checks, and the validation errors of all the others: a bulk
    write answers every invalid item at once; any other refusal names its item and stops."""

    errors: list[dict[str, str]] = dataclasses.field(default_factory=list)
    passed: list[Item] = dataclasses.field(default_factory=list)

    def item(self, item: Item) -> _Checked:
        """``with checks.item(item):`` around one item's checks (a class, not a generator: a
        thousand-item body enters it a thousand times)."""
        return _Checked(self, item)

    def result(self) -> list[Item]:
        if self.errors:
            raise ValidationFailed(self.errors[:200], detail=f"{len(self.errors)} invalid value(s) in the items sent")
        return self.passed


class _Checked:
    __slots__ = ("checks", "item")

    def __init__(self, checks: ItemChecks, item: Item):
        self.checks, self.item = checks, item

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None:
            self.checks.passed.append(self.item)
            return False
        if isinstance(exc, ValidationFailed):
            self.checks.errors.extend(located(exc, item=self.item.index).extra["errors"])
            return True
        if isinstance(exc, Problem):
            raise located(exc, item=self.item.index) from None
        return False


def located(exc: Problem, **where: Any) -> Problem:
    """The same problem, saying which item or row it is about (`item=3` or `row=<pk>`)."""
    ((name, value),) = where.items()
    prefix = f"item {value}" if name == "item" else f"row {value}"
    if isinstance(exc, ValidationFailed):
        errors = exc.extra.get("errors", [])
        if name == "item":
            errors = [{**e, "path": f"/{value}{e.get('path', '')}"} for e in errors]
        problem: Problem = ValidationFailed(errors, detail=f"{prefix}: {exc.detail}")
        problem.extra[name] = value
        return problem
    return restated(exc, f"{prefix}: {exc.detail}", **{name: value})


def restated(exc: Problem, detail: str, **extra: Any) -> Problem:
    """A copy of `exc` (any Problem subclass, whatever its constructor) with this detail and more members."""
    problem = copy.copy(exc)
    problem.detail, problem.args = detail, (detail,)
    problem.extra = {**exc.extra, **extra}
    return problem


class FlaggedRow(dict):
    """A written row that knows which of the caller's masked fields (read rules) it may show: the
    write's own statement worked it out, so `BulkWriter.shown` asks the database nothing more."""

    __slots__ = ("readable",)

    def __init__(self, row: Any, readable: frozenset[str]):
        super().__init__(row)
        self.readable = readable


class _Many:
    """Lets the manager's `_write` (which maps constraint errors to problems) run a many-row statement."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def fetchrow(self, sql_text: str, *args: Any) -> list[asyncpg.Record]:
        return await self.conn.fetch(sql_text, *args)


class BulkWriter:
    """The many-row writes of one resource, built on its manager's single-row steps."""

    def __init__(self, manager: ResourceManager, max_items: int):
        self.m = manager
        self.resource = manager.resource
        self.max_items = max_items

    def check_size(self, count: int, what: str = "items") -> None:
        if count > self.max_items:
            raise PayloadTooLarge(
                f"{count} {what}; at most {self.max_items} in one request (ENGINE_MAX_BATCH_ITEMS)",
                max_items=self.max_items,
            )

    def _carried(self, name: str, values: list[Any]) -> list[Any]:
        """A column's values as its input array carries them: jsonb as JSON text (engine.sql.bulk)."""
        if self.resource.fields[name].sql_type != "jsonb":
            return values
        return [None if v is None else json_text(v) for v in values]

    async def shown(
        self, rows: list[dict[str, Any]], identity: Any, conn: asyncpg.Connection | None = None
    ) -> list[dict[str, Any]]:
        """The written rows as the caller may read them (ResourceManager.shown for many rows: one
        query for all, and none when no field of the resource has a read rule for the caller)."""
        masks = await self.m.masks(identity)
        if not masks or not rows:
            return rows
        if all(type(row) is FlaggedRow for row in rows):  # the statement worked the flags out
            names = {name for name, _ in masks}
            return [{k: v for k, v in row.items() if k not in names or k in row.readable} for row in rows]
        compiled = self.m.queries.compiled(
            ("bulk_readable", tuple((n, p.key) for n, p in masks)), lambda: sql.readable_flags(self.resource, masks)
        )
        pk = self.resource.primary_key
        values = bind_predicates(tuple(p for _, p in masks), {"pks": [row[pk] for row in rows]})
        fetch = conn.fetch if conn is not None else self.m.pool.fetch
        records = await fetch(compiled.sql, *compiled.args(values))
        flags = {record[pk]: record for record in records}
        hidden = [(name, f"w{i}") for i, (name, _) in enumerate(masks)]
        return [self._without(row, flags.get(row[pk]), hidden) for row in rows]

    @staticmethod
    def _without(row: dict[str, Any], flags: Any, hidden: list[tuple[str, str]]) -> dict[str, Any]:
        """The row without the masked fields whose read rule it fails (all of them if it is gone)."""
        drop = {name for name, flag in hidden if flags is None or not flags[flag]}
        return {k: v for k, v in row.items() if k not in drop} if drop else row

    async def _statement(self, conn: asyncpg.Connection, compiled: Any, values: dict[str, Any]) -> list[dict]:
        records = await self.m._write(_Many(conn), compiled.sql, compiled.args(values))  # type: ignore[arg-type]
        return [dict(r) for r in records or ()]

    # --- create ------------------------------------------------------------------------------

    async def create_many(
        self,
        items: list[Any],
        context: WriteContext,
        conn: asyncpg.Connection | None = None,
        preset: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Create every item or none; the stored rows in the order sent. `preset` columns (the id
        of a PUT) are set on every row after validation, as the URL, not the body, carries them."""
        self.check_size(len(items))
        prepared = await self._prepare(items, context)
        if preset:
            for item in prepared:
                item.columns = {**(item.columns or {}), **preset}
        self._refuse_duplicates(prepared)
        if conn is None and not await self.m.needs_transaction("create", context):
            return await self._create_alone(prepared, context)
        rules = await self.m.field_rules("write", context.identity)  # asked once for every row
        rows = WriteSet()  # the rows' after_write output (events) is written at the end, in one go
        async with self.m._transaction(conn) as conn:
            for item in prepared:
                item.context.conn, item.context.write_set = conn, rows
            await self._before_each(prepared, rules)
            records = await self._insert(conn, prepared, context, ())
            await self._after_each(prepared, records)
            await rows.flush(conn)
        return records

    def _refuse_duplicates(self, prepared: list[Item]) -> None:
        """Two items with the same values in a unique key: the 409 names them (the database would
        refuse the statement without saying which items)."""
        for columns in self.resource.unique:
            seen: dict[Any, int] = {}
            for item in prepared:
                values = tuple((item.columns or {}).get(c) for c in columns)
                if None in values:  # NULLs never conflict
                    continue
                try:
                    earlier = seen.setdefault(values, item.index)
                except TypeError:  # a JSON value: left to the database
                    break
                if earlier != item.index:
                    what = ", ".join(columns)
                    raise Conflict(
                        f"items {earlier} and {item.index} have the same {what}", fields=list(columns), item=item.index
                    )

    async def _create_alone(self, prepared: list[Item], context: WriteContext) -> list[dict[str, Any]]:
        """One statement committed on its own, events folded in, as a single create without a
        transaction (no plugin needs one): refusing in before_write writes nothing."""
        rules = await self.m.field_rules("write", context.identity)  # asked once for every row
        rows = WriteSet()
        async with self.m.pool.acquire() as conn:
            for item in prepared:
                item.context.conn, item.context.write_set = conn, rows
            await self._before_each(prepared, rules)
            records = await self._insert(conn, prepared, context, await self.m._folds_for("create"))
            await self._after_each(prepared, records)
            await rows.flush(conn)  # committed already: what the hooks deferred (a wake-up) needs no transaction
        return records

    async def _before_each(self, prepared: list[Item], rules: Any) -> None:
        """Each created row's before_write, in order; a refusal names its item (one handler for
        all rows: a thousand-row create calls the hooks a thousand times)."""
        index = None
        if prepared and self.resource.references:  # the rows' targets, one query per target resource
            await learn_targets(self.m, prepared[0].context, [item.columns for item in prepared])
        try:
            for item in prepared:
                index = item.index
                await self.m._before_write(item.context, "create", item.columns, None, rules)
        except Problem as exc:
            raise located(exc, item=index) from None

    async def _after_each(self, prepared: list[Item], records: list[dict[str, Any]]) -> None:
        """Each created row's after_write, in order; a refusal names its item."""
        index = None
        try:
            for item, record in zip(prepared, records, strict=True):
                index = item.index
                await self.m._after_write(item.context, "create", record, None)
        except Problem as exc:
            raise located(exc, item=index) from None

    async def _prepare(self, items: list[Any], context: WriteContext) -> list[Item]:
        """Read-only fields, before_validate, the schema and column types for every item; all errors at once."""
        checks = ItemChecks()
        for index, data in enumerate(items):
            if not isinstance(data, dict):
                checks.errors.append({"path": f"/{index}", "message": "each item must be a JSON object"})
                continue
            item = Item(index, data, context.for_write())
            with checks.item(item):
                self.m._refuse_read_only(data, updating=False)
                await self.m._before_validate("create", data, item.context, None)
                self.m.validator.validate(data)
                item.columns = self.m._to_columns(data)
        return checks.result()

    async def _each(self, index: Any, step: Any, key: str = "item") -> Any:
        try:
            return await step
        except Problem as exc:
            raise located(exc, **{key: index}) from None

    async def _insert(
        self, conn: asyncpg.Connection, items: list[Item], context: WriteContext, folds: tuple[WriteFold, ...]
    ) -> list[dict]:
        """One INSERT ... SELECT FROM unnest(...) for every item, with the `fold_into_write` rows (events)
        when it commits on its own (inside a transaction the after_write hooks write theirs, and
        the events their NOTIFY at commit)."""
        pk = self.resource.primary_key
        rows = [item.columns or {} for item in items]
        names = [c for c in self.resource.columns if any(c in row for row in rows)] or [pk]
        columns = tuple(names)
        partial = tuple(c for c in columns if not all(c in row for row in rows))
        masks = await self.m.foldable_masks(context.identity) if folds else ()

        def build() -> exp.Expression:
            statement = sql.insert_many(self.resource, columns, partial, self.m.queries.live)
            return with_flags(folded(statement, folds), masks) if folds else statement

        compiled = self.m.queries.compiled(("bulk_insert", columns, partial, bool(folds), mask_key(masks)), build)
        values: dict[str, Any] = bind_predicates(tuple(p for _, p in masks), {})
        for fold in folds:
            values.update(fold.values(context.identity, None))
        for name in columns:
            values[f"a_{name}"] = self._carried(name, [row.get(name) for row in rows])
        for name in partial:
            values[f"p_{name}"] = [name in row for row in rows]
        records = await self._statement(conn, compiled, values)
        if len(records) != len(items):  # stopped by a reference to a soft-deleted row: nothing written
            raise await dead_reference_problem(self.m, conn, rows) or self.m.missing_references(())
        for item in items:
            item.context.folds = folds
        if masks:
            records = [FlaggedRow(record, readable_flags(record, masks)) for record in records]
        return records

    # --- update and delete by filter ---------------------------------------------------------

    async def _matching(
        self,
        conn: asyncpg.Connection,
        action: str,
        query: ListQuery,
        context: WriteContext,
    ) -> tuple[list[dict[str, Any]], tuple]:
        """The rows the filters and boolean groups match and the caller may `action`, locked, at most
        max_items; and the caller's `action` predicates. A filter on a field the caller may not read
        is a 400, as on a list: the rows a write changes must not tell what a hidden field holds."""
        predicates = await self.m.predicates(action, context.identity)
        masks = await self.m.masks(context.identity)
        if masks:
            query_power.refuse_hidden_fields(self.resource, query, masks)
        filters, group = query.filters, boolean.predicate(query.where)
        matching = predicates if group is None else (*predicates, group)
        shape = ("bulk_match", tuple(f.shape for f in filters), tuple(p.key for p in matching))
        compiled = self.m.queries.compiled(shape, lambda: sql.select_for_write(self.resource, filters, matching))
        values = bind_predicates(matching, {f"f{i}": f.value for i, f in enumerate(filters)})
        values["limit"] = self.max_items + 1
        rows = [dict(r) for r in await conn.fetch(compiled.sql, *compiled.args(values))]
        self.check_size(len(rows), f"{self.resource.name} rows match")
        return rows, predicates

    async def update_where(
        self,
        query: ListQuery,
        patch: dict[str, Any],
        context: WriteContext,
        conn: asyncpg.Connection | None = None,
    ) -> list[dict[str, Any]]:
        """Apply `patch` to every matching row the caller may update, or to none; the changed rows."""
        self.m._refuse_read_only(patch, updating=True)
        pk = self.resource.primary_key
        rows = WriteSet()
        async with self.m._transaction(conn) as conn:
            found, predicates = await self._matching(conn, "update", query, context)
            groups: dict[tuple[str, ...], list[tuple[dict, dict, WriteContext]]] = {}
            for previous in found:
                each = context.for_write()
                each.conn, each.write_set = conn, rows
                columns = await self._row(previous, self.m._checked_patch(each, previous, dict(patch), None))
                groups.setdefault(tuple(columns), []).append((previous, columns, each))
            written: dict[Any, dict[str, Any]] = {}
            for names, group in groups.items():
                if not names:
                    written.update((prev[pk], prev) for prev, _, _ in group)
                    continue
                compiled = self.m.queries.compiled(
                    ("bulk_update", names, tuple(p.key for p in predicates)),
                    lambda names=names: sql.update_many(self.resource, names, predicates, self.m.queries.live),
                )
                values = {"pks": [prev[pk] for prev, _, _ in group]}
                values.update({f"a_{c}": self._carried(c, [cols[c] for _, cols, _ in group]) for c in names})
                records = await self._statement(conn, compiled, bind_predicates(predicates, values))
                if len(records) != len(group):  # a reference to a soft-deleted row: all rolled back
                    changed = [cols for prev, cols, _ in group if prev[pk] not in {r[pk] for r in records}]
                    raise await dead_reference_problem(self.m, conn, changed) or self.m.missing_references(())
                for record in records:
                    written[record[pk]] = record
                for previous, _, each in group:
                    await self._row(previous, self.m._after_write(each, "update", written[previous[pk]], previous))
            await rows.flush(conn)
        return [written[previous[pk]] for previous in found]

    async def delete_where(
        self,
        query: ListQuery,
        context: WriteContext,
        conn: asyncpg.Connection | None = None,
    ) -> list[dict[str, Any]]:
        """Delete every matching row the caller may delete, or none; the deleted rows."""
        pk = self.resource.primary_key
        async with self.m._transaction(conn) as conn:
            found, predicates = await self._matching(conn, "delete", query, context)
            if not found:
                return []
            contexts, rows = [], WriteSet()
            for previous in found:
                each = context.for_write()
                each.conn, each.write_set = conn, rows
                await self._row(previous, self.m._before_write(each, "delete", None, previous))
                contexts.append(each)
            compiled = self.m.queries.compiled(
                ("bulk_delete", tuple(p.key for p in predicates)), lambda: sql.delete_many(self.resource, predicates)
            )
            values = bind_predicates(predicates, {"pks": [row[pk] for row in found]})
            await self._statement(conn, compiled, values)
            for previous, each in zip(found, contexts, strict=True):
                await self._row(previous, self.m._after_write(each, "delete", previous, previous))
            await rows.flush(conn)
        return found

    async def _row(self, previous: dict[str, Any], step: Any) -> Any:
        try:
            return await step
        except Problem as exc:
            raise located(exc, row=str(previous[self.resource.primary_key])) from None

    # --- upserts -----------------------------------------------------------------------------

    async def put(
        self,
        pk_text: str,
        data: dict[str, Any],
        context: WriteContext,
        may_create: Callable[[], Any],
        conn: asyncpg.Connection | None = None,
        expect: Callable[[dict[str, Any]], None] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create the row with this key (True) or replace the caller's row (False, update rights).

        A replacement sets every field the body leaves out back to its default (or null), as a
        create with this body would have stored it. `may_create` is awaited before creating (the
        caller's roles must allow create too). `expect` is If-Match's check of the row, as a PATCH
        runs it (engine.http.etag.write_preconditions); with it, a row that does not exist yet is a 412 (no
        current representation matches, RFC 9110 13.1.1), and nothing is created.
        """
        pk = self.m.parse_pk(pk_text)
        name = self.resource.primary_key
        if name in data and str(data[name]) != pk_text:
            message = f"'{name}' is set by the URL; leave it out or send the same value"
            raise ValidationFailed([{"path": f"/{name}", "message": message}])
        async with self.m._transaction(conn) as conn:
            existing = await conn.fetchval(*self._exists_statement(pk))
            if existing:
                return await self._replace(conn, pk, data, context, expect), False
            if expect is not None and getattr(expect, "requires_row", True):
                raise PreconditionFailed(
                    f"no {self.resource.name} row with {name} {pk_text[:100]!r} yet: "
                    "If-Match matches only an existing row"
                )
            await may_create()
            records = await self.create_many([data], context, conn, preset={self.resource.primary_key: pk})
            return records[0], True

    async def _replace(
        self, conn: asyncpg.Connection, pk: Any, data: dict[str, Any], context: WriteContext, expect: Any = None
    ) -> dict[str, Any]:
        """The row becomes what a create with `data` would have stored (fields left out: their
        defaults, or null), through the update's steps; someone else's row is a key conflict."""
        m = self.m
        context.conn = conn
        predicates = await m.predicates("update", context.identity)
        try:
            previous = await m._locked(conn, pk, predicates, context.identity)
        except NotFound:  # a row the caller cannot see: what creating it would have answered
            raise self._taken((self.resource.primary_key,)) from None
        if expect is not None:
            expect(previous)
        key = self.resource.fields[self.resource.primary_key]
        keyed = not key.read_only and key.name in self.resource.schema.get("properties", {})
        if keyed:  # a whole row names its key (put checked it is the URL's) or leaves it to the URL
            data = {k: v for k, v in data.items() if k != key.name}
        m._refuse_read_only(data, updating=True)
        await m._before_validate("update", data, context, previous)
        whole = {**data, key.name: to_json(key, previous[key.name])} if keyed else data
        m.validator.validate(whole, [n for n in m._secrets if previous.get(n) is not None])
        columns = {**self._cleared(data), **m._to_columns(data)}
        await m._before_write(context, "update", columns, previous)
        compiled = m.queries.update(tuple(columns), predicates)
        values = bind_predicates(predicates, {"pk": pk, **{f"v_{k}": v for k, v in columns.items()}})
        record = await m._write_row(conn, compiled, values, columns)
        await m._after_write(context, "update", record, previous)
        return record

    def _exists_statement(self, pk: Any) -> tuple[Any, ...]:
        compiled = self.m.queries.compiled(("bulk_exists",), lambda: sql.exists_by_key(self.resource))
        return (compiled.sql, pk)

    def _cleared(self, data: dict[str, Any]) -> dict[str, Any]:
        """The writable columns `data` leaves out, at their defaults (or null): a replacement's rest."""
        cleared = {}
        for name, field in self.resource.fields.items():
            if name in data or field.read_only or field.generated or field.engine_managed or field.write_only:
                continue  # a secret left out is kept: it cannot be read back to be sent again
            if name in (self.resource.primary_key, self.resource.owner):
                continue
            cleared[name] = from_json(field, field.default) if field.has_default else None
        return cleared

    def _taken(self, keys: tuple[str, ...], **where: Any) -> Conflict:
        """The answer of a unique-key conflict, for a row with these values the caller may not change."""
        what = ", ".join(keys)
        return Conflict(f"another {self.resource.name} row already has this {what}", fields=list(keys), **where)
