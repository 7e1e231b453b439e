"""Rows a delete takes with it: `on_delete: cascade` removes them, `set null` changes them.

PostgreSQL performs those changes itself, so nothing in the engine sees them; to keep "no change
without its event", the rows are found before the delete, by walking the declared references
inside the same transaction. They are locked (FOR UPDATE) so no concurrent write can change them
or attach new children to them before the delete takes them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlglot import exp

from engine.features.events.payload import emits
from engine.spec import Reference, Resource, Spec
from engine.sql.compiled import Compiled, ShapeCache, param
from engine.sql.ddl import column, table
from engine.sql.outputs import outputs

FOLLOWED = ("cascade", "set null")


@dataclass(frozen=True)
class Affected:
    """A row a delete removes (action "deleted") or sets a reference of to null ("updated")."""

    resource: Resource
    action: str
    before: dict[str, Any]
    after: dict[str, Any]


class CascadeWalker:
    """Built once per app from the spec: who references whom, and the SELECT for each edge."""

    def __init__(self, spec: Spec):
        self.referrers: dict[str, list[tuple[Resource, Reference]]] = defaultdict(list)
        for resource in spec.resources.values():
            for reference in resource.references.values():
                if reference.on_delete in FOLLOWED and reference.resource in spec.resources:
                    self.referrers[reference.resource].append((resource, reference))
        self._needed = {name: self._emitting_descendant(name, set()) for name in spec.resources}
        self._cache = ShapeCache()

    def _emitting_descendant(self, name: str, seen: set[str]) -> bool:
        seen.add(name)
        for child, reference in self.referrers.get(name, ()):
            wanted = "deleted" if reference.on_delete == "cascade" else "updated"
            if emits(child, wanted):
                return True
            if (
                reference.on_delete == "cascade"
                and child.name not in seen
                and self._emitting_descendant(child.name, seen)
            ):
                return True
        return False

    def needed(self, resource: Resource) -> bool:
        """Whether deleting a `resource` row can change rows whose resource emits events (a soft
        delete keeps the row, so nothing references it any less: features/soft_delete)."""
        return resource.soft_delete is None and self._needed.get(resource.name, False)

    def _select(self, child: Resource, reference: Reference) -> Compiled:
        def build() -> exp.Expression:
            fields = outputs(child, child.columns, child.table)
            match = column(reference.column, child.table).eq(exp.Any(this=exp.Paren(this=param("keys"))))
            return (
                exp.select(*fields)
                .from_(table(child.table))
                .where(match)
                .order_by(column(child.primary_key, child.table))
                .lock()
            )

        return self._cache.get((child.name, reference.column), build)

    async def walk(self, conn: asyncpg.Connection, resource: Resource, row: dict[str, Any]) -> list[Affected]:
        """Every row deleting `row` will delete or change, deepest first, each at most once."""
        seen = {(resource.name, row[resource.primary_key])}
        deleted: list[Affected] = []
        nulled: dict[tuple[str, Any], Affected] = {}
        level: dict[str, tuple[Resource, list[Any]]] = {resource.name: (resource, [row[resource.primary_key]])}
        while level:
            next_level: dict[str, tuple[Resource, list[Any]]] = {}
            for parent, keys in level.values():
                for child, reference in self.referrers.get(parent.name, ()):
                    compiled = self._select(child, reference)
                    for record in await conn.fetch(compiled.sql, keys):
                        found = dict(record)
                        key = (child.name, found[child.primary_key])
                        if reference.on_delete == "set null":
                            if key not in nulled:
                                nulled[key] = Affected(child, "updated", found, dict(found))
                            nulled[key].after[reference.column] = None
                        elif key not in seen:
                            seen.add(key)
                            deleted.append(Affected(child, "deleted", found, found))
                            next_level.setdefault(child.name, (child, []))[1].append(key[1])
            level = next_level
        updates = [affected for key, affected in nulled.items() if key not in seen]
        return updates + deleted[::-1]
