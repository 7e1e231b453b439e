"""Why a write that sets references to soft-deleting resources wrote nothing: the references it
points at deleted rows (engine.sql.references holds the conditions its statement carried).

Asked only on that failure path, or, for an upsert (whose statement cannot tell a created row
from an updated one), once before its statement when its items set such a reference: a resource
whose references point at no soft-deleting resource never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg

from engine.kernel.errors import ValidationFailed
from engine.sql.references import dead_references

if TYPE_CHECKING:
    from engine.resources.manager import ResourceManager


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
