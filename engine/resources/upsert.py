"""Upserts by a natural key, set-based: `POST ?on_conflict=<key>` with `Prefer: resolution=merge-duplicates`.

Every item goes through what its own write would: a new key through a create's steps, an existing
row through a PATCH's with the item as the patch (read-only fields, `before_validate`, the schema
on the merged row, field write rules, `before_write`, `after_write`, events). The SQL is two
statements whatever the item count: one SELECT ... FOR UPDATE of the rows holding the items' keys
(with whether the caller may update each), then one INSERT ... SELECT FROM unnest(...) ON CONFLICT
(key) DO UPDATE whose WHERE holds the access rules and the rows read: a conflict with a row the
caller may not change (someone else's, or one inserted meanwhile) changes nothing, and the answer
is the 409 of any unique-key conflict. Items that point a reference at a soft-deleted row are
refused before that statement (one more query, only when items set such references).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from engine.kernel.errors import Conflict, ValidationFailed
from engine.resources.bulk import BulkWriter, Item, ItemChecks
from engine.resources.context import WriteContext, WriteSet
from engine.resources.references import dead_reference_problem, learn_targets
from engine.resources.values import ValueProblem, from_json
from engine.sql import bulk as sql
from engine.sql.queries import bind_predicates


class Upsert:
    """One upsert request: its items, the key they match on, and what the database holds for them."""

    def __init__(self, writer: BulkWriter, keys: tuple[str, ...]):
        self.w, self.m, self.resource = writer, writer.m, writer.resource
        self.keys = keys
        fields = self.resource.fields
        # What an existing row's proposed INSERT carries besides the item's columns (its NOT NULL
        # and CHECK constraints are checked before the conflict is found): its stored values.
        self._stored = tuple(n for n in self.resource.columns if not (fields[n].engine_managed or fields[n].write_only))

    async def run(
        self, items: list[Any], context: WriteContext, conn: asyncpg.Connection | None = None
    ) -> list[tuple[dict[str, Any], bool]]:
        """(row, created) for every item, in the order sent; all or nothing."""
        self.w.check_size(len(items))
        keyed = self._key_values(items, context)
        self._refuse_same_keys(keyed)
        async with self.m._transaction(conn) as conn:
            predicates = await self.m.predicates("update", context.identity)
            existing = await self._existing(conn, keyed, predicates)
            rows = WriteSet()  # the rows' after_write output (events), written at the end at once
            prepared = await self._prepare(items, existing, context, conn, rows)
            written = [item for item in prepared if item.columns]
            await self._refuse_dead_references(conn, written, existing)
            records = await self._write(conn, written, existing, predicates) if written else []
            for item, record in zip(written, records, strict=True):
                previous = existing.get(item.index)
                action = "create" if previous is None else "update"
                await self.w._each(item.index, self.m._after_write(item.context, action, record, previous))
            await rows.flush(conn)
        by_index = {item.index: record for item, record in zip(written, records, strict=True)}
        return [
            (by_index.get(i, existing.get(i)), i not in existing)  # type: ignore[misc]
            for i in range(len(items))
        ]

    # --- the keys ----------------------------------------------------------------------------

    def _key_values(self, items: list[Any], context: WriteContext) -> list[tuple[Any, ...]]:
        """Each item's values in the key, as columns; the owner field, which a caller does not send,
        is the caller's own id. Every missing or malformed value at once (422)."""
        keyed, errors = [], []
        identity = context.identity
        for index, data in enumerate(items):
            if not isinstance(data, dict):
                errors.append({"path": f"/{index}", "message": "each item must be a JSON object"})
                continue
            values = []
            for name in self.keys:
                field = self.resource.fields[name]
                if name == self.resource.owner and name not in data and identity is not None:
                    try:
                        values.append(from_json(field, identity.user_id))
                    except ValueProblem:
                        values.append(None)  # an owner column this caller's id cannot be: matches nothing
                    continue
                if data.get(name) is None:
                    errors.append({"path": f"/{index}/{name}", "message": f"'{name}' is required to match on it"})
                    continue
                try:
                    values.append(from_json(field, data[name]))
                except ValueProblem as exc:
                    errors.append({"path": f"/{index}/{name}", "message": f"expected {exc}"})
            keyed.append(tuple(values))
        if errors:
            raise ValidationFailed(errors[:200], detail=f"{len(errors)} invalid value(s) in the items sent")
        return keyed

    def _refuse_same_keys(self, keyed: list[tuple[Any, ...]]) -> None:
        """Two items with the same key: one statement cannot both create and update that row (409)."""
        seen: dict[Any, int] = {}
        for index, values in enumerate(keyed):
            if None in values:
                continue
            try:
                earlier = seen.setdefault(values, index)
            except TypeError:  # a JSON value: left to the database
                return
            if earlier != index:
                what = ", ".join(self.keys)
                raise Conflict(f"items {earlier} and {index} have the same {what}", fields=list(self.keys), item=index)

    async def _existing(
        self, conn: asyncpg.Connection, keyed: list[tuple[Any, ...]], predicates: tuple
    ) -> dict[int, dict[str, Any]]:
        """Item index -> the row holding its key, locked; a row the caller may not update is the
        409 a duplicate key answers, before anything is written."""
        keys = self.keys
        compiled = self.m.queries.compiled(
            ("bulk_existing", keys, tuple(p.key for p in predicates)),
            lambda: sql.existing_by_keys(self.resource, keys, predicates),
        )
        values = {f"k{i}": self.w._carried(name, [v[i] for v in keyed]) for i, name in enumerate(keys)}
        found: dict[int, dict[str, Any]] = {}
        for record in await conn.fetch(compiled.sql, *compiled.args(bind_predicates(predicates, values))):
            row = dict(record)
            index = row.pop(sql.ORDINAL) - 1
            if not row.pop(sql.MAY):
                raise self.w._taken(keys, item=index)
            found[index] = row
        return found

    # --- the items ---------------------------------------------------------------------------

    async def _prepare(
        self,
        items: list[Any],
        existing: dict[int, dict[str, Any]],
        context: WriteContext,
        conn: asyncpg.Connection,
        rows: WriteSet,
    ) -> list[Item]:
        """Each item through its create's or its PATCH's steps, up to `before_write`; validation
        errors of every item at once."""
        m = self.m
        rules = await m.field_rules("write", context.identity)  # asked once for every row
        if self.resource.references:  # the items' targets, one query per target resource
            sent = [(data, existing.get(index)) for index, data in enumerate(items) if isinstance(data, dict)]
            await learn_targets(m, context, [data for data, _ in sent], [old for _, old in sent])
        checks = ItemChecks()
        for index, data in enumerate(items):
            item = Item(index, data, context.for_write())
            item.context.conn, item.context.write_set = conn, rows
            previous = existing.get(index)
            with checks.item(item):
                if previous is None:
                    m._refuse_read_only(data, updating=False)
                    await m._before_validate("create", data, item.context, None)
                    m.validator.validate(data)
                    item.columns = m._to_columns(data)
                    await m._before_write(item.context, "create", item.columns, None, rules)
                else:
                    patch = self._without_own_key(data, previous)
                    m._refuse_read_only(patch, updating=True)
                    item.columns = await m._checked_patch(item.context, previous, patch, None)
        return checks.result()

    def _without_own_key(self, data: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
        """An updating item without a writable primary key that names the row it updates (the key it
        matched on, `on_conflict=id`): only a different value is refused, as a change of the key."""
        pk = self.resource.primary_key
        field = self.resource.fields[pk]
        if pk not in data or field.read_only:
            return data
        try:
            same = from_json(field, data[pk]) == previous[pk]
        except ValueProblem:
            return data
        return {k: v for k, v in data.items() if k != pk} if same else data

    async def _refuse_dead_references(
        self, conn: asyncpg.Connection, items: list[Item], existing: dict[int, dict[str, Any]]
    ) -> None:
        """The answer to a missing row for an item that points a reference at a soft-deleted row
        (engine.sql.references), before the statement: one query, only when items set such a
        reference (an update keeping a reference's value is not checked, as by the foreign key)."""
        live = {ref.column for ref in self.m.queries.live}
        if not live:
            return
        rows = []
        for item in items:
            previous = existing.get(item.index)
            columns = (item.columns or {}).items()
            rows.append({c: v for c, v in columns if c in live and (previous is None or previous.get(c) != v)})
        if any(rows):
            problem = await dead_reference_problem(self.m, conn, rows, surely=False)
            if problem is not None:
                raise problem

    async def _write(
        self,
        conn: asyncpg.Connection,
        items: list[Item],
        existing: dict[int, dict[str, Any]],
        predicates: tuple,
    ) -> list[dict[str, Any]]:
        """The one INSERT ... ON CONFLICT DO UPDATE; the rows in the items' order."""
        pk = self.resource.primary_key
        updates = [item for item in items if item.index in existing]
        rows = []
        for item in items:
            previous = existing.get(item.index)
            stored = {} if previous is None else {n: previous[n] for n in self._stored if n in previous}
            rows.append({**stored, **(item.columns or {})})
        columns = tuple(c for c in self.resource.columns if any(c in row for row in rows))
        partial = tuple(c for c in columns if not all(c in row for row in rows))
        changed = tuple(c for c in self.resource.columns if any(c in (item.columns or {}) for item in updates))
        kept = tuple(c for c in changed if not all(c in (item.columns or {}) for item in updates))
        keys, shape = self.keys, (columns, partial, changed, kept, tuple(p.key for p in predicates))
        compiled = self.m.queries.compiled(
            ("bulk_upsert", keys, shape),
            lambda: sql.upsert_many(self.resource, columns, partial, keys, changed, kept, predicates),
        )
        values: dict[str, Any] = {f"a_{c}": self.w._carried(c, [row.get(c) for row in rows]) for c in columns}
        values.update({f"p_{c}": [c in row for row in rows] for c in partial})
        for name in kept:
            values[f"keep_{name}"] = [existing[i.index][pk] for i in updates if name not in (i.columns or {})]
        values["expected"] = [existing[item.index][pk] for item in updates]
        records = await self.w._statement(conn, compiled, bind_predicates(predicates, values))
        if len(records) != len(items):  # a conflict with a row inserted since the rows were read
            raise self._missing(items, records)
        return records

    def _missing(self, items: list[Item], records: list[dict[str, Any]]) -> Conflict:
        """The 409 of the first item the statement did not write (its key taken meanwhile)."""
        returned = {tuple(str(record.get(k)) for k in self.keys) for record in records}
        for item in items:
            if tuple(str((item.columns or {}).get(k)) for k in self.keys) not in returned:
                return self.w._taken(self.keys, item=item.index)
        return self.w._taken(self.keys)
