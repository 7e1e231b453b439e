"""The generic resource manager: list, get, create, update and delete for any declared resource.

Access rules arrive as SQL predicates from the `access_predicates` hook and are ANDed into every
statement, so a row a caller may not see is simply absent: a 404, never a 403, on every path.
Each write is one transaction holding the before/after hooks (and, through them, events).
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
import pluggy
from sqlglot import exp

from engine.db import coalesce
from engine.db.commit_together import POSITION
from engine.db.rows import as_dicts
from engine.kernel.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from engine.kernel.hooks import HookCall, call_all, kept_call
from engine.kernel.identity import Identity
from engine.migrations.model import constraint_name
from engine.resources import cursor as cursors
from engine.resources import field_rules, query_power
from engine.resources.context import WriteContext, WriteFold
from engine.resources.listing import ListQuery
from engine.resources.references import dead_reference_problem, refuse_hidden_targets
from engine.resources.validation import BodyValidator, read_only_errors
from engine.resources.values import ValueProblem, from_json, from_query
from engine.spec import Resource
from engine.sql.compiled import Compiled, param, tagged
from engine.sql.ddl import column
from engine.sql.queries import (
    Columns,
    Masks,
    Predicate,
    ResourceQueries,
    bind_predicates,
    drop_hidden,
    mask_flag,
    mask_key,
)
from engine.sql.references import LiveReference, written
from engine.sql.search import RANK


def _flatten(results: list[Any]) -> tuple[Predicate, ...]:
    flat: list[Predicate] = []
    for result in results:
        flat.extend(result if isinstance(result, (list, tuple)) else [result])
    return tuple(flat)


WRITTEN = "written"  # the write's own CTE in a folded statement
PREVIOUS = "previous"  # an update's CTE holding the row as it was, when one statement reads it (update_reading)

# The access hooks' answers (`access_predicates`, `field_access`) for the rest of one request: the
# same (resource, action, identity) gives the same predicates within a request, and a request asks
# several times (a read with includes ten times, a write five). None outside a request.
_ACCESS_ANSWERS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("access_answers", default=None)


def remember_access_answers() -> None:
    """Called once a request's caller is known (the HTTP layer's authentication): from here on, in
    this request's task, each access hook is asked once per resource, action and identity."""
    _ACCESS_ANSWERS.set({})


# Access answers kept across requests per manager (pure implementations only): (hook, action or
# mode, identity) -> answer. A few per caller; forgotten all at once when full.
_PURE_ANSWERS_LIMIT = 4096

# The hooks a write calls through `_hook`, once per row written.
WRITE_HOOKS = ("before_validate", "before_write", "after_write", "write_needs_transaction", "write_needs_previous")

LOCK_ATTEMPTS = 3  # locked reads of one write: again only when a concurrent write made the row writable


def as_context(who: WriteContext | Identity | None) -> WriteContext:
    """Writes take a WriteContext; an Identity (or None) alone is accepted from plugins and jobs."""
    return who if isinstance(who, WriteContext) else WriteContext(who)


def as_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as plain JSON values (uuid and datetime become strings)."""
    return orjson.loads(orjson.dumps(row))


class ResourceManager:
    def __init__(
        self,
        resource: Resource,
        pool: asyncpg.Pool,
        pm: pluggy.PluginManager,
        reads: Any = None,
        live: tuple[LiveReference, ...] = (),
    ):
        """`live`: the references whose target soft-deletes (engine.sql.references.live_references)."""
        self.resource = resource
        self.pool = pool
        self.reads = pool if reads is None else reads  # lists and reads: a replica may serve them (engine.db.replicas)
        self.pm = pm
        self.queries = ResourceQueries(resource, live)
        self.validator = BodyValidator(resource)
        self._all_fields = resource.columns
        # An update validates the stored row merged with the patch; a secret reads back masked, so it
        # is left out of the merge and counts as present when set (features/secrets).
        self._secrets = tuple(n for n, f in resource.fields.items() if f.write_only)
        self._schema_fields = tuple(n for n in resource.schema.get("properties", {}) if n not in self._secrets)
        self._constraint_columns = _constraint_columns(resource)
        self._folds: dict[str, tuple[WriteFold, ...]] = {}  # action -> the `fold_into_write` answers, asked once
        self._foldable_masks: dict[tuple, bool] = {}  # mask_key -> whether the flags fold into a write
        self._hooks: dict[str, HookCall] = {}  # the write hooks' implementations, looked up at the first write
        self._always_transaction: bool | None = None
        self._always_previous: bool | None = None  # whether every update reads its row first (_reads_first)
        self._hooks_hold_connection: bool | None = None  # _holds_connection
        self._pure_answers: dict[tuple, tuple[HookCall, Any]] = {}  # _access_answer
        self.peers: dict[str, ResourceManager] = {}  # every resource's manager (the app sets it): references' targets

    # --- access ------------------------------------------------------------------------------

    async def predicates(self, action: str, identity: Identity | None) -> tuple[Predicate, ...]:
        return await self._access_answer(self.pm.hook.access_predicates, "action", action, identity, _flatten)

    async def field_rules(self, mode: str, identity: Identity | None) -> dict[str, Predicate]:
        """Field name -> where the caller may `mode` (read or write) it (the `field_access` hook)."""
        return dict(await self._access_answer(self.pm.hook.field_access, "mode", mode, identity, field_rules.merge))

    async def _access_answer(
        self, hook: pluggy.HookCaller, name: str, value: str, identity: Identity | None, combine: Any
    ) -> Any:
        """An access hook's combined answer for this resource, `name`=`value` and the caller: kept
        across requests while every implementation is `pure` (engine.kernel.hooks.pure), else for
        the rest of the request (`remember_access_answers`). Callers must not change it."""
        call = kept_call(hook)
        key = (hook.name, self.resource.name, value, identity)  # the request's memo is every resource's
        if call is not None and call.pure:
            kept = self._pure_answers.get(key)
            if kept is not None and kept[0] is call:
                return kept[1]
            answer = combine(await call(resource=self.resource, identity=identity, **{name: value}))
            if len(self._pure_answers) >= _PURE_ANSWERS_LIMIT:
                self._pure_answers.clear()
            self._pure_answers[key] = (call, answer)
            return answer
        memo = _ACCESS_ANSWERS.get()
        if memo is not None and key in memo:
            return memo[key]
        answer = combine(await call_all(hook, resource=self.resource, identity=identity, **{name: value}))
        if memo is not None:
            memo[key] = answer
        return answer

    async def masks(self, identity: Identity | None) -> Masks:
        """The read rules of fields, as the select list needs them."""
        return tuple((await self.field_rules("read", identity)).items())

    def parse_pk(self, text: str) -> Any:
        try:
            return from_query(self.resource.pk, text)
        except ValueProblem:
            raise self.not_found(text) from None

    def not_found(self, pk: Any) -> NotFound:
        return NotFound(f"no {self.resource.name} row with {self.resource.primary_key} {str(pk)[:100]!r}")

    # --- reads -------------------------------------------------------------------------------

    async def list(
        self,
        query: ListQuery,
        identity: Identity | None,
        conn: asyncpg.Connection | None = None,
        predicates: tuple[Predicate, ...] | None = None,
        extra: Columns | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of rows; `predicates` replaces the caller's list predicates (soft_delete's ?deleted=only);
        with `extra`'s columns too (each row's includes, `Embedding.joined`)."""
        if predicates is None:
            predicates = await self.predicates("list", identity)
        masks = await self.masks(identity)
        field_rules.refuse_hidden(self.resource, query, masks)
        power, ranked_cursor = query_power.plan(self.resource, query, masks)  # or/and/not, q (issue 20)
        predicates = (*predicates, *power.predicates)
        wanted = query.fields or self._all_fields
        hidden = tuple(k.field for k in query.sort if k.field not in wanted)
        selected = tuple(wanted) + hidden
        values = bind_predicates(
            (*predicates, *(p for _, p in masks)), {f"f{i}": f.value for i, f in enumerate(query.filters)}
        )
        cursor_nulls = None
        values.update(ranked_cursor)
        if query.cursor is not None and power.rank is None:
            positions = cursors.decode(self.resource, query.sort, query.cursor)
            cursor_nulls = tuple(v is None for v in positions)
            values.update({f"c{i}": v for i, v in enumerate(positions)})
        values["limit"] = query.limit + 1
        if extra is not None:
            values.update(extra.params)
        compiled = self.queries.list(
            query.filters, query.sort, selected, cursor_nulls, predicates, masks, power.rank, extra
        )
        if conn is None:
            records = await coalesce.fetch(self.reads, compiled, compiled.args(values))
        else:
            records = await conn.fetch(compiled.sql, *compiled.args(values))
        rows = as_dicts(records[: query.limit])
        next_cursor = None
        if len(records) > query.limit:
            last = rows[-1]
            next_cursor = (
                power.encode(self.resource, last) if power.rank else cursors.encode(self.resource, query.sort, last)
            )
        if power.rank is not None:
            for row in rows:
                del row[RANK]
        drop_hidden(rows, masks)
        if hidden:
            for row in rows:
                for name in hidden:
                    del row[name]
        return rows, next_cursor

    async def get(
        self,
        pk_text: str,
        identity: Identity | None,
        fields: tuple[str, ...] | None = None,
        extra: Columns | None = None,
    ) -> dict[str, Any]:
        """The row, as the caller may read it (404 when they may not); with `extra`'s columns too."""
        pk = self.parse_pk(pk_text)
        predicates = await self.predicates("read", identity)
        masks = await self.masks(identity)
        compiled = self.queries.get(predicates, fields or self._all_fields, masks=masks, extra=extra)
        values = bind_predicates((*predicates, *(p for _, p in masks)), {"pk": pk})
        if extra is not None:
            values.update(extra.params)
        record = await coalesce.fetchrow(self.reads, compiled, compiled.args(values))
        if record is None:
            raise self.not_found(pk_text)
        rows = [dict(record)]
        drop_hidden(rows, masks)
        return rows[0]

    async def shown(
        self,
        row: dict[str, Any],
        identity: Identity | None,
        conn: asyncpg.Connection | None = None,
        context: WriteContext | None = None,
    ) -> dict[str, Any]:
        """A written row as the caller may read it: fields their read rules hide are left out
        (one query on the row as written, only when the resource has such rules for the caller;
        on `conn` when given, e.g. inside the write's transaction); no query when `context` carries
        what the write's own statement found (`WriteContext.readable`)."""
        masks = await self.masks(identity)
        if not masks:
            return row
        if context is not None and context.readable is not None:
            allowed = context.readable
        else:
            known, asked = known_shown(masks, row)
            if not asked:
                allowed = known
            elif conn is not None:
                allowed = known | await field_rules.readable(conn, self.queries, asked, row)
            else:
                async with self.pool.acquire() as own:
                    allowed = known | await field_rules.readable(own, self.queries, asked, row)
        return {k: v for k, v in row.items() if k in allowed or k not in dict(masks)}

    # --- writes ------------------------------------------------------------------------------

    def _to_columns(self, data: dict[str, Any]) -> dict[str, Any]:
        fields = self.resource.fields
        columns, errors = {}, []
        for name, value in data.items():
            if name in fields:
                try:
                    columns[name] = from_json(fields[name], value)
                except ValueProblem as exc:
                    errors.append({"path": f"/{name}", "message": f"expected {exc}"})
        if errors:
            raise ValidationFailed(errors)
        return columns

    @asynccontextmanager
    async def _transaction(self, conn: asyncpg.Connection | None) -> AsyncIterator[asyncpg.Connection]:
        """Our own transaction, or a savepoint in the caller's (nested routes write several rows at once)."""
        if conn is not None:
            async with conn.transaction():
                yield conn
            return
        async with self.pool.acquire() as own, own.transaction():
            yield own

    async def needs_transaction(self, action: str, context: WriteContext) -> bool:
        """Whether a plugin needs this write's transaction (hookspecs.write_needs_transaction)."""
        if self._always_transaction is None:
            self._always_transaction = bool(undeclared_write_hooks(self.pm))
        if self._always_transaction:
            return True
        answers = await self._hook("write_needs_transaction")(
            context=context, resource=self.resource, action=action, identity=context.identity
        )
        return any(answers)

    async def _folds_for(self, action: str) -> tuple[WriteFold, ...]:
        folds = self._folds.get(action)
        if folds is None:
            answers = await call_all(self.pm.hook.fold_into_write, resource=self.resource, action=action)
            folds = self._folds[action] = tuple(answers)
        return folds

    async def _alone(
        self,
        action: str,
        key: Any,
        build: Any,
        context: WriteContext,
        previous: Any = None,
        reading: bool = False,
        known: Mapping[str, Any] | None = None,
    ):
        """The statement for a write without a transaction, with the rows `fold_into_write` folds into
        it and the caller's read-rule flags on the written row (`_readable_flags`). `reading`: an
        update that reads its row in the statement, `build(folds)` giving the read and the write
        (`ResourceQueries.update_reading`); the row as it was comes back after the written row.
        `known`: column values the written row is sure to have; a read rule they satisfy (the
        caller's own row) needs no flag (`known_shown`), and goes into `context.readable`."""
        folds = await self._folds_for(action)
        shown_known, masks = known_shown(await self.foldable_masks(context.identity), known)
        if shown_known:
            context.readable = shown_known
        values: dict[str, Any] = bind_predicates(tuple(p for _, p in masks), {})
        if not folds and not masks and not reading:
            shape = (action, key, "alone")
            return self.queries.compiled(shape, build), self._tagged(shape, build), values, masks
        context.folds = folds

        def build_folded() -> exp.Expression:
            if reading:
                read, write = build(folds)
                return with_previous(with_flags(folded(write, folds, read), masks), self._all_fields)
            return with_flags(folded(build(), folds), masks)

        shape = (action, key, "reading" if reading else "folded", mask_key(masks))
        compiled = self.queries.compiled(shape, build_folded)
        for fold in folds:
            values.update(fold.values(context.identity, previous))
        return compiled, self._tagged(shape, build_folded), values, masks

    def _tagged(self, shape: tuple, build: Any) -> Compiled | None:
        """The statement of `shape` returning its writer's position too, when the pool commits
        concurrent writes together (engine.db.commit_together); built once per shape."""
        if getattr(self.pool, "combiner", None) is None:
            return None
        return self.queries.compiled((*shape, "tagged"), lambda: tagged(build(), POSITION))

    async def foldable_masks(self, identity: Identity | None) -> Masks:
        """The caller's read rules when a write's own statement can work them out (`with_flags`),
        else none: `shown` then asks after the write."""
        masks = await self.masks(identity)
        return masks if masks and self._flags_fold(masks) else ()

    def _flags_fold(self, masks: Masks) -> bool:
        """Whether the read rules can be worked out in the write's own statement: not when one reads
        this resource's table (that statement's snapshot does not show the new row yet) or a column
        the write does not return as stored (a secret comes back masked)."""
        key = mask_key(masks)
        answer = self._foldable_masks.get(key)
        if answer is None:
            built = [p.build(WRITTEN) for _, p in masks]
            returned = set(self.resource.fields) - set(self._secrets)
            answer = not any(t.name == self.resource.table for e in built for t in e.find_all(exp.Table)) and all(
                c.name in returned for e in built for c in e.find_all(exp.Column) if c.table == WRITTEN
            )
            self._foldable_masks[key] = answer
        return answer

    @staticmethod
    def _readable_flags(record: dict[str, Any], masks: Masks, context: WriteContext) -> None:
        """Take the flags `_alone` added off the written row, into `context.readable` (beside the
        fields `_alone` knew the caller may read)."""
        if masks:
            context.readable = readable_flags(record, masks) | (context.readable or frozenset())

    async def lock_for_write(
        self, conn: asyncpg.Connection, pk_text: str, identity: Identity | None, action: str = "update"
    ) -> dict[str, Any]:
        """The row, locked FOR UPDATE, if `identity` may `action` (update, attach) it (404 when hidden,
        403 when only readable)."""
        pk = self.parse_pk(pk_text)
        return await self._locked(conn, pk, await self.predicates(action, identity), identity)

    async def create(
        self, data: dict[str, Any], who: WriteContext | Identity | None, conn: asyncpg.Connection | None = None
    ) -> dict[str, Any]:
        context = as_context(who)
        self._refuse_read_only(data, updating=False)
        await self._before_validate("create", data, context, None)
        self.validator.validate(data)
        columns = self._to_columns(data)
        if conn is None and not await self.needs_transaction("create", context):
            return await self._create_alone(columns, context)
        async with self._transaction(conn) as conn:
            context.conn = conn
            await self._before_write(context, "create", columns, None)
            compiled = self.queries.insert(tuple(columns))
            record = await self._write_row(conn, compiled, {f"v_{k}": v for k, v in columns.items()}, columns)
            await self._after_write(context, "create", record, None)
        return record

    async def _create_alone(self, columns: dict[str, Any], context: WriteContext) -> dict[str, Any]:
        """One statement, committed on its own: no plugin needs a transaction around it."""
        if not self._holds_connection():
            return await self._create_on(None, columns, context)
        async with self.pool.acquire() as conn:
            return await self._create_on(conn, columns, context)

    async def _create_on(
        self, conn: asyncpg.Connection | None, columns: dict[str, Any], context: WriteContext
    ) -> dict[str, Any]:
        """`_create_alone` on the caller's connection, or on none: the statement then commits with
        concurrent creates (engine.db.commit_together) on a connection only their first one holds."""
        names = tuple(columns)
        context.conn, context.pool = conn, self.pool
        await self._before_write(context, "create", columns, None)
        compiled, together, values, masks = await self._alone(
            "create", names, lambda: self.queries.insert_expression(names), context, known=columns
        )
        values.update({f"v_{k}": v for k, v in columns.items()})
        record = await self._write_row(conn, compiled, values, columns, together=together)
        self._readable_flags(record, masks, context)
        await self._after_write(context, "create", record, None)
        return record

    def _holds_connection(self) -> bool:
        """Whether a write without a transaction holds a connection from its first hook to its last:
        unless the pool commits writes together and no write hook for this resource may use one.
        The built-in hooks use none on that path (the query cache's notice takes one from
        `context.pool`); another plugin's hook taking `conn` or `context` (which carries the
        connection) keeps its connection."""
        if getattr(self.pool, "combiner", None) is None:
            return True
        if self._hooks_hold_connection is None:
            impls = self._hook("before_write").impls + self._hook("after_write").impls
            self._hooks_hold_connection = any(
                not function.__module__.startswith("engine.features.") and {"conn", "context"} & set(names)
                for function, names in impls
            )
        return self._hooks_hold_connection

    async def update(
        self,
        pk_text: str,
        patch: dict[str, Any],
        who: WriteContext | Identity | None,
        expect: Any = None,
        conn: asyncpg.Connection | None = None,
    ) -> dict[str, Any]:
        context = as_context(who)
        pk = self.parse_pk(pk_text)
        self._refuse_read_only(patch, updating=True)
        predicates = await self.predicates("update", context.identity)
        if conn is None and not await self.needs_transaction("update", context):
            if await self._reads_first(context, patch, expect):
                record = await self._update_alone(pk, dict(patch), context, predicates, expect)
            else:
                record = await self._update_reading(pk, dict(patch), context, predicates)
            if record is not None:
                return record
            context = context.for_write()
        async with self._transaction(conn) as conn:
            context.conn = conn
            previous = await self._locked(conn, pk, predicates, context.identity)
            columns = await self._checked_patch(context, previous, patch, expect)
            if not columns:
                return previous
            compiled = self.queries.update(tuple(columns), predicates)
            values = bind_predicates(predicates, {"pk": pk, **{f"v_{k}": v for k, v in columns.items()}})
            record = await self._write_row(conn, compiled, values, columns)
            await self._after_write(context, "update", record, previous)
        return record

    async def _update_alone(
        self,
        pk: Any,
        patch: dict[str, Any],
        context: WriteContext,
        predicates: tuple[Predicate, ...],
        expect: Any,
    ) -> dict[str, Any] | None:
        """Read the row, check it, then one UPDATE that applies only if the row is still that version.

        None when the row is missing or changed in between: the caller then takes the locking path,
        which answers 404/403 or applies the patch to the newer row.
        """
        async with self.pool.acquire() as conn:
            context.conn = conn
            compiled = self.queries.get_versioned(predicates, self._all_fields)
            found = await conn.fetchrow(compiled.sql, *compiled.args(bind_predicates(predicates, {"pk": pk})))
            if found is None:
                return None
            previous = dict(found)
            version = previous.pop("xmin")
            columns = await self._checked_patch(context, previous, patch, expect)
            if not columns:
                return previous
            names = tuple(columns)
            compiled, together, values, masks = await self._alone(
                "update",
                (names, tuple(p.key for p in predicates)),
                lambda: self.queries.update_expression(names, predicates, unchanged=True),
                context,
                previous,
                known={**previous, **columns},
            )
            values.update({"pk": pk, "xmin": version, **{f"v_{k}": v for k, v in columns.items()}})
            values = bind_predicates(predicates, values)
            found = await self._write_row(conn, compiled, values, columns, changed_ok=True, together=together, order=pk)
            if found is None:
                return None
            record = dict(found)
            self._readable_flags(record, masks, context)
            await self._after_write(context, "update", record, previous)
        return record

    async def _reads_first(self, context: WriteContext, patch: dict[str, Any], expect: Any) -> bool:
        """Whether an update must read the stored row before its statement: for If-Match, a
        restore, a schema whose fields depend on each other (the merged row is validated), a
        field write rule, a fold that cannot read the row in SQL, or a plugin's before hook that
        needs `previous` (hookspecs.write_needs_previous). Else `_update_reading` does it all at once."""
        if expect is not None or context.restoring is not None or not self.validator.patch_alone:
            return True
        if self._always_previous is None:
            folds = await self._folds_for("update")
            self._always_previous = bool(undeclared_previous_hooks(self.pm)) or not all(map(reads_previous, folds))
        if self._always_previous or await self.field_rules("write", context.identity):
            return True
        answers = await self._hook("write_needs_previous")(
            context=context, resource=self.resource, action="update", data=patch, identity=context.identity
        )
        return any(answers)

    async def _update_reading(
        self, pk: Any, patch: dict[str, Any], context: WriteContext, predicates: tuple[Predicate, ...]
    ) -> dict[str, Any] | None:
        """One statement that reads the row where the caller may change it, changes that version of
        it and writes the folded rows (events' `changes` from the row as it was): no read before it.

        None when it changed nothing (no such row, one the caller may not change, a concurrent
        change, a dead reference it sets) or when the patch is refused before it: the caller then
        takes the locking path, which answers as for any update (a hidden row is a 404 before a 422)."""
        try:
            await self._before_validate("update", patch, context, None)
            self.validator.validate_patch(patch)
            columns = self._to_columns(patch)
        except Problem:
            return None
        if not columns:
            return None
        if not self._holds_connection():
            return await self._update_reading_on(None, pk, columns, context, predicates)
        async with self.pool.acquire() as conn:
            return await self._update_reading_on(conn, pk, columns, context, predicates)

    async def _update_reading_on(
        self,
        conn: asyncpg.Connection | None,
        pk: Any,
        columns: dict[str, Any],
        context: WriteContext,
        predicates: tuple[Predicate, ...],
    ) -> dict[str, Any] | None:
        """`_update_reading`'s statement on the caller's connection, or on none (as `_create_on`)."""
        context.conn, context.pool = conn, self.pool
        try:
            await self._before_write(context, "update", columns, None)
        except Problem:
            return None
        names = tuple(columns)  # as before_write left them (a secret encrypted, a field added)
        compiled, together, values, masks = await self._alone(
            "update",
            (names, tuple(p.key for p in predicates)),
            lambda folds: self.queries.update_reading(names, predicates, PREVIOUS, guards(folds, names)),
            context,
            reading=True,
            known={**{name: value for p in predicates for name, value in p.requires}, **columns},
        )
        values.update({"pk": pk, **{f"v_{k}": v for k, v in columns.items()}})
        values = bind_predicates(predicates, values)
        found = await self._write_row(conn, compiled, values, columns, changed_ok=True, together=together, order=pk)
        if found is None:
            return None
        items = list(found.items())
        split = len(items) - len(self._all_fields)
        record = dict(items[:split])
        previous = {name: value for name, (_, value) in zip(self._all_fields, items[split:], strict=True)}
        self._readable_flags(record, masks, context)
        await self._after_write(context, "update", record, previous)
        return record

    async def delete(
        self,
        pk_text: str,
        who: WriteContext | Identity | None,
        expect: Any = None,
        conn: asyncpg.Connection | None = None,
    ) -> dict[str, Any]:
        context = as_context(who)
        pk = self.parse_pk(pk_text)
        predicates = await self.predicates("delete", context.identity)
        async with self._transaction(conn) as conn:
            context.conn = conn
            previous = await self._locked(conn, pk, predicates, context.identity)
            if expect is not None:
                expect(previous)
            await self._before_write(context, "delete", None, previous)
            compiled = self.queries.delete(predicates)
            await self._write(conn, compiled.sql, compiled.args(bind_predicates(predicates, {"pk": pk})))
            await self._after_write(context, "delete", previous, previous)
        return previous

    async def _checked_patch(
        self, context: WriteContext, previous: dict[str, Any], patch: dict[str, Any], expect: Any
    ) -> dict[str, Any]:
        """The patch as columns, after If-Match, before_validate, validation of the merged row and
        before_write (empty: nothing to change, and no before_write)."""
        if expect is not None:
            expect(previous)
        await self._before_validate("update", patch, context, previous)
        stored = {k: v for k, v in as_json(previous).items() if v is not None and k in self._schema_fields}
        merged = {**stored, **patch}
        if context.restoring is not None:  # a restored version's nulls are fields it did not have
            merged = {k: v for k, v in merged.items() if v is not None}
        if context.restoring is None and self.validator.patch_alone:
            self.validator.validate_patch(patch)  # the same answer as `_update_reading` gives
        else:
            self.validator.validate(merged, [n for n in self._secrets if previous.get(n) is not None])
        columns = self._to_columns(patch)
        if columns:
            await self._before_write(context, "update", columns, previous)
        return columns

    async def _before_validate(self, action: str, data: dict[str, Any], context: WriteContext, previous: Any) -> None:
        await self._hook("before_validate")(
            resource=self.resource,
            action=action,
            data=data,
            identity=context.identity,
            previous=previous,
        )

    async def _before_write(
        self, context: WriteContext, action: str, data: Any, previous: Any, rules: dict[str, Predicate] | None = None
    ) -> None:
        if data is not None:  # field write rules, on the row as it would be stored (403); a bulk write asks once
            if self.resource.references:
                await refuse_hidden_targets(self, context, data, previous)
            rules = await self.field_rules("write", context.identity) if rules is None else rules
            if context.conn is None and any(name in rules for name in data):  # a write that holds none (_create_on)
                async with self.pool.acquire() as conn:
                    await field_rules.check_writes(conn, self.queries, rules, data, previous)
            elif rules:
                await field_rules.check_writes(context.conn, self.queries, rules, data, previous)
        await self._hook("before_write")(
            context=context,
            conn=context.conn,
            resource=self.resource,
            action=action,
            data=data,
            previous=previous,
            identity=context.identity,
        )

    async def _after_write(self, context: WriteContext, action: str, record: Any, previous: Any) -> None:
        await self._hook("after_write")(
            context=context,
            conn=context.conn,
            resource=self.resource,
            action=action,
            record=record,
            previous=previous,
            identity=context.identity,
        )

    def prepare_hooks(self) -> None:
        """Look the write hooks' implementations up now (the app's start-up): a `for_resources` test
        that raises stops the start naming it, rather than failing this resource's first write."""
        for name in WRITE_HOOKS:
            self._hook(name)

    def _hook(self, name: str) -> HookCall:
        """A write hook, called once per row: its implementations for this resource (`for_resources`)
        looked up once (plugins register by the end of start-up; the first write comes after)."""
        call = self._hooks.get(name)
        if call is None:
            call = self._hooks[name] = HookCall(getattr(self.pm.hook, name), self.resource)
        return call

    async def _locked(
        self, conn: asyncpg.Connection, pk: Any, predicates: tuple[Predicate, ...], identity: Identity | None = None
    ) -> dict[str, Any]:
        compiled = self.queries.get(predicates, self._all_fields, lock=True)
        args = compiled.args(bind_predicates(predicates, {"pk": pk}))
        for _ in range(LOCK_ATTEMPTS):
            record = await conn.fetchrow(compiled.sql, *args)
            if record is not None:
                return dict(record)
            if not await self._refuse_if_readable(conn, pk, predicates, identity):
                break
        raise self.not_found(pk)

    async def _refuse_if_readable(
        self, conn: asyncpg.Connection, pk: Any, write: tuple[Predicate, ...], identity: Identity | None
    ) -> bool:
        """403 for a row the caller may read but not change (a team member renaming the team); a row
        they cannot read stays a 404. Costs a query only on this failure path, and none when the
        read and write rules are the same predicates (owner-only resources).

        True (read it again) when the row is one they may change after all: a write committed
        between the locked read and this one brought it back (a soft-deleted row restored), and
        the caller's write then applies to the row as that write left it, never a false 403."""
        read = await self.predicates("read", identity)
        if identity is None or tuple(p.key for p in read) == tuple(p.key for p in write):
            return False
        compiled = self.queries.get(read, (self.resource.primary_key,))
        if await conn.fetchrow(compiled.sql, *compiled.args(bind_predicates(read, {"pk": pk}))) is not None:
            writable = self.queries.get(write, (self.resource.primary_key,))
            if await conn.fetchrow(writable.sql, *writable.args(bind_predicates(write, {"pk": pk}))) is not None:
                return True
            raise Forbidden(f"you may read this {self.resource.name} row but not change it")
        return False

    def _refuse_read_only(self, data: dict[str, Any], *, updating: bool) -> None:
        errors = read_only_errors(self.resource, data, updating=updating)
        if errors:
            raise ValidationFailed(errors)

    async def _write(
        self,
        conn: asyncpg.Connection | None,
        sql: str,
        args: list[Any],
        missing_ok: bool = False,
        run: Awaitable[Mapping[str, Any] | None] | None = None,
    ) -> Mapping[str, Any] | None:
        """`conn.fetchrow(sql, *args)`, or `run` when given (the same statement committed with
        others: engine.db.commit_together), its database errors as the client's 4xx."""
        try:
            record = await (conn.fetchrow(sql, *args) if run is None else run)
        except asyncpg.UniqueViolationError as exc:
            columns = self._constraint_columns.get(exc.constraint_name or "", ())
            what = ", ".join(columns) or "these values"
            raise Conflict(f"another {self.resource.name} row already has this {what}", fields=list(columns)) from None
        except asyncpg.ForeignKeyViolationError as exc:
            raise self._reference_problem(exc) from None
        except asyncpg.CheckViolationError as exc:
            columns = self._constraint_columns.get(exc.constraint_name or "", ())
            raise ValidationFailed(
                [{"path": "/" + c, "message": "value is not allowed"} for c in columns]
                or [{"path": "/", "message": "a check constraint refused the row"}]
            ) from None
        except asyncpg.NotNullViolationError as exc:
            raise ValidationFailed(
                [{"path": f"/{exc.column_name}", "message": f"'{exc.column_name}' is required"}]
            ) from None
        except (asyncpg.DataError, asyncpg.exceptions.UntranslatableCharacterError) as exc:
            raise ValidationFailed(
                [{"path": "/", "message": f"value not accepted by the database: {exc.message}"}]
            ) from None
        if record is None and not missing_ok:
            raise NotFound(f"no {self.resource.name} row matches")
        return record

    def _reference_problem(self, exc: asyncpg.ForeignKeyViolationError) -> Exception:
        columns = self._constraint_columns.get(exc.constraint_name or "", ())
        if exc.table_name != self.resource.table:
            # Another table still points at this row (on_delete: restrict).
            return Conflict(f"this {self.resource.name} row is still referenced by {exc.table_name}")
        return self.missing_references(columns)

    def missing_references(self, columns: Any) -> ValidationFailed:
        """The answer to references to rows that do not exist (or are soft-deleted: the same answer)."""
        errors = [
            {"path": f"/{column}", "message": f"no {self.resource.references[column].resource} row with this id"}
            for column in columns
        ]
        return ValidationFailed(errors or [{"path": "/", "message": "a referenced row does not exist"}])

    async def _write_row(
        self,
        conn: asyncpg.Connection | None,
        compiled: Compiled,
        values: dict[str, Any],
        columns: dict[str, Any],
        changed_ok: bool = False,
        together: Compiled | None = None,
        order: Any = None,
    ) -> dict[str, Any] | None:
        """`_write` of one row. A write setting a reference to a soft-deleting resource that wrote
        nothing was stopped by its condition (engine.sql.references): the answer is that of a
        missing row. `changed_ok`: an update that also required the row's version, which answers
        None when it was that instead. `together`: the statement's tagged form (`_tagged`), to
        commit it with concurrent writes of its shape, in the order of `order`."""
        refs = written(self.queries.live, tuple(columns)) if self.queries.live else ()
        if together is not None:  # the pool commits writes together (`_tagged` made it)
            run = self.pool.combiner.fetchrow(self.pool, conn, compiled, values, together, order)
            record = await self._write(conn, compiled.sql, [], changed_ok or bool(refs), run=run)
        else:
            record = await self._write(conn, compiled.sql, compiled.args(values), changed_ok or bool(refs))
        if record is not None:
            return dict(record)
        if refs:
            if conn is None:
                async with self.pool.acquire() as own:
                    problem = await dead_reference_problem(self, own, [columns], surely=not changed_ok)
            else:
                problem = await dead_reference_problem(self, conn, [columns], surely=not changed_ok)
            if problem is not None:
                raise problem
        if changed_ok:
            return None
        raise NotFound(f"no {self.resource.name} row matches")


def with_flags(statement: exp.Select, masks: Masks) -> exp.Select:
    """A folded write's final SELECT, with one boolean per masked field: may the caller read it
    on the written row (its read rule evaluated on the `written` CTE)."""
    flags = [exp.alias_(p.build(WRITTEN), mask_flag(i), quoted=True) for i, (_, p) in enumerate(masks)]
    return statement.select(*flags) if flags else statement


def known_shown(masks: Masks, row: Mapping[str, Any] | None) -> tuple[frozenset[str], Masks]:
    """The masked fields a row with these column values is known to show (its read rule holds for
    it: `Predicate.holds_for`), and the masks left to ask the database about."""
    if not masks or not row:
        return frozenset(), masks
    known = frozenset(name for name, rule in masks if rule.holds_for(row))
    return known, (tuple((name, rule) for name, rule in masks if name not in known) if known else masks)


def readable_flags(record: dict[str, Any], masks: Masks) -> frozenset[str]:
    """The masked fields a written row may show, its `with_flags` columns taken off it."""
    return frozenset(name for i, (name, _) in enumerate(masks) if record.pop(mask_flag(i)))


def folded(write: exp.Expression, folds: tuple[WriteFold, ...], previous: exp.Select | None = None) -> exp.Expression:
    """``WITH written AS (write), <each fold's CTEs> SELECT * FROM written``: one statement, one commit.
    `previous`: the read of an update's row (with its version), the CTE before `written`, named to each fold."""
    statement = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(WRITTEN))).from_(exp.to_table(WRITTEN))
    if previous is not None:
        statement = statement.with_(PREVIOUS, as_=previous)
    statement = statement.with_(WRITTEN, as_=write)
    for fold in folds:
        ctes = fold.ctes(WRITTEN) if previous is None else fold.ctes(WRITTEN, previous=PREVIOUS)  # type: ignore[call-arg]
        for name, cte in ctes:
            statement = statement.with_(name, as_=cte)
    return statement


def with_previous(statement: exp.Select, fields: tuple[str, ...]) -> exp.Select:
    """The row as it was after the written row (and its flags), one column per field, last."""
    previous = [exp.alias_(column(f, PREVIOUS), f"{PREVIOUS}.{f}", quoted=True) for f in fields]
    return statement.select(*previous).join(exp.to_table(PREVIOUS), join_type="cross")


def guards(folds: tuple[WriteFold, ...], columns: tuple[str, ...]) -> tuple[exp.Expression, ...]:
    """The folds' conditions on an update's row as it was (WriteFold.guard), for these columns."""
    new = {c: param(f"v_{c}") for c in columns}
    found = []
    for fold in folds:
        guard = getattr(fold, "guard", None)
        condition = guard(PREVIOUS, dict(new)) if guard is not None else None
        if condition is not None:
            found.append(condition)
    return tuple(found)


def reads_previous(fold: WriteFold) -> bool:
    """Whether a fold reads an update's row from SQL (its `ctes` takes `previous`)."""
    return "previous" in inspect.signature(fold.ctes).parameters


def undeclared_write_hooks(pm: pluggy.PluginManager) -> list[str]:
    """Plugins whose write hooks may need the transaction and that do not say when (so: always)."""
    declared = {impl.plugin for impl in pm.hook.write_needs_transaction.get_hookimpls()}
    hooks = [impl for impl in pm.hook.before_write.get_hookimpls() if "conn" in impl.argnames]
    hooks += pm.hook.after_write.get_hookimpls()
    return sorted({impl.plugin_name for impl in hooks if impl.plugin not in declared})


def undeclared_previous_hooks(pm: pluggy.PluginManager) -> list[str]:
    """Plugins whose before hooks take `previous` and that do not say when they need it (so: always)."""
    declared = {impl.plugin for impl in pm.hook.write_needs_previous.get_hookimpls()}
    hooks = pm.hook.before_validate.get_hookimpls() + pm.hook.before_write.get_hookimpls()
    return sorted({impl.plugin_name for impl in hooks if "previous" in impl.argnames and impl.plugin not in declared})


def _constraint_columns(resource: Resource) -> dict[str, tuple[str, ...]]:
    """Constraint name -> the columns it covers, to turn database errors into field errors."""
    table = resource.table
    names: dict[str, tuple[str, ...]] = {f"{table}_pkey": (resource.primary_key,)}
    for cols in resource.unique:
        names[constraint_name(table, list(cols), "key")] = tuple(cols)
    for name in resource.references:
        names[constraint_name(table, [name], "fkey")] = (name,)
    for field in resource.fields.values():
        if field.enum:
            names[constraint_name(table, [field.name], "check")] = (field.name,)
    return names
