"""What a write may point its references at.

Hidden rows: a reference declared `check: read` (the default) may be set only to a row the caller
may read. Anything else answers exactly as a row that does not exist (422, "no <resource> row with
this id"), so a write never tells whether a hidden row exists, nor attaches to one. One query per
target resource for the keys a write names (remembered for the rest of the request), only when the
caller's read rules on the target hide some rows: an admin, a target everyone reads, a reference
left unchanged and the caller pointing the owner field at themselves ask nothing.

Deleted rows: why a write that sets references to soft-deleting resources wrote nothing: the
references it points at deleted rows (engine.sql.references holds the conditions its statement
carried). Asked only on that failure path, or, for an upsert (whose statement cannot tell a
created row from an updated one), once before its statement when its items set such a reference:
a resource whose references point at no soft-deleting resource never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg

from engine.kernel.errors import ValidationFailed
from engine.resources.values import ValueProblem, from_query, to_json
from engine.sql.queries import bind_predicates
from engine.sql.references import dead_references

if TYPE_CHECKING:
    from engine.resources.context import WriteContext
    from engine.resources.manager import ResourceManager

_SEEN = object()  # WriteContext.shared key: (target, str(key)) -> whether the caller may read that row


async def refuse_hidden_targets(
    manager: ResourceManager, context: WriteContext, data: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    """422, as for a missing row, naming each `check: read` reference `data` sets to a row its caller
    may not read. A value equal to the stored one (`previous`) is not asked about: a row read and
    sent back whole keeps pointing where it pointed."""
    checked = _checked(manager, context, data, previous)
    if not checked:
        return
    seen = await _learn(context, checked)
    hidden = [column for column, target, key in checked if not seen[(target.resource.name, key)]]
    if hidden:
        raise manager.missing_references(hidden)


async def learn_targets(
    manager: ResourceManager,
    context: WriteContext,
    rows: list[dict[str, Any]],
    previous: list[dict[str, Any] | None] | None = None,
) -> None:
    """Ask at once about the rows `rows` point at (a bulk create or an upsert, before its rows' own
    checks; `previous`: each row as stored, None for a new one), so each row's
    `refuse_hidden_targets` finds its answer remembered."""
    before = previous if previous is not None else [None] * len(rows)
    await _learn(
        context,
        [found for data, old in zip(rows, before, strict=True) for found in _checked(manager, context, data, old)],
    )


async def _learn(context: WriteContext, checked: list[tuple[str, ResourceManager, str]]) -> dict[tuple, bool]:
    """The request's answers, (target, key) -> readable, completed for `checked`: one query per
    target resource for the keys not asked about yet in this request."""
    seen = context.shared.setdefault(_SEEN, {})
    wanted: dict[str, tuple[ResourceManager, dict[str, None]]] = {}  # target -> its keys, in order
    for _, target, key in checked:
        if (target.resource.name, key) not in seen:
            wanted.setdefault(target.resource.name, (target, {}))[1][key] = None
    for name, (target, keys) in wanted.items():
        readable = await _readable_keys(target, context, keys)
        seen.update({(name, key): key in readable for key in keys})
    return seen


def _checked(
    manager: ResourceManager, context: WriteContext, data: dict[str, Any], previous: dict[str, Any] | None
) -> list[tuple[str, ResourceManager, str]]:
    """(column, target manager, key as text) of each reference `data` sets that must be readable."""
    identity = context.identity
    if identity is not None and identity.is_admin:
        return []
    resource = manager.resource
    found = []
    for column, reference in resource.references.items():
        value = data.get(column)
        if value is None or reference.check != "read" or column in context.references_checked:
            continue
        field = resource.fields[column]
        if previous is not None and to_json(field, previous.get(column)) == to_json(field, value):
            continue
        if identity is not None and column == resource.owner and str(value) == identity.user_id:
            continue  # the caller's own id: pointing at yourself reveals nothing
        target = manager.peers.get(reference.resource)
        if target is not None:
            found.append((column, target, str(value)))
    return found


async def _readable_keys(target: ResourceManager, context: WriteContext, keys: dict[str, None]) -> set[str]:
    """The keys (as text) of the `target` rows among `keys` the caller may read."""
    predicates = await target.predicates("read", context.identity)
    if not predicates:  # the caller reads every row: the foreign key alone decides
        return set(keys)
    parsed = []
    for key in keys:  # an upsert asks before its items are validated
        try:
            parsed.append(from_query(target.resource.pk, key))
        except ValueProblem:
            continue  # no key of the target: no row to read (the item's validation says why)
    if not parsed:
        return set()
    compiled = target.queries.readable_keys(predicates)
    values = bind_predicates(predicates, {"keys": parsed})
    if context.conn is None:
        async with target.pool.acquire() as conn:
            records = await conn.fetch(compiled.sql, *compiled.args(values))
    else:
        records = await context.conn.fetch(compiled.sql, *compiled.args(values))
    return {str(record[0]) for record in records}


async def dead_reference_problem(
    manager: ResourceManager, conn: asyncpg.Connection, rows: list[dict[str, Any]], surely: bool = True
) -> ValidationFailed | None:
    """The problem of a missing row for each reference of `rows` (column values, as written) that
    points at a soft-deleted row; None when none does. `surely`: the write is known to have been
    stopped by one, so a row restored since still answers for every reference set (it was deleted
    when the write ran)."""
    dead = await dead_columns(manager, conn, rows)
    if not dead and surely:
        dead = [ref.column for ref in manager.queries.live if any(row.get(ref.column) is not None for row in rows)]
    return manager.missing_references(dead) if dead else None


async def dead_columns(manager: ResourceManager, conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> list[str]:
    """The reference columns whose value in some of `rows` is the key of a soft-deleted row (one query)."""
    refs = tuple(ref for ref in manager.queries.live if any(ref.column in row for row in rows))
    if not refs:
        return []
    shape = ("dead_references", tuple(ref.column for ref in refs))
    compiled = manager.queries.compiled(shape, lambda: dead_references(refs))
    values = {f"r_{ref.column}": [row.get(ref.column) for row in rows] for ref in refs}
    found = await conn.fetch(compiled.sql, *compiled.args(values))
    return [ref.column for ref in refs if any(record[ref.column] for record in found)]
