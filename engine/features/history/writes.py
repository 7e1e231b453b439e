"""The write hooks that record a version of every change of a resource declaring `history:`.

Registered once per app (engine/features/history/plugin.py), holding each resource's statements.
A create or update that runs alone carries its version as a CTE of its own statement
(`fold_into_write`); any other write records it after its SQL, in its transaction (`after_write`),
as do the rows a delete takes with it through `on_delete: cascade` or `set null`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from sqlglot import exp

from engine.features.events.cascade import CascadeWalker
from engine.features.history.store import PAST, Versions, actor
from engine.kernel.hooks import hookimpl
from engine.kernel.identity import Identity
from engine.resources.context import WriteContext
from engine.spec import Resource, Spec

CTE = "hist_version"
CASCADED = "history.cascaded"  # WriteContext.notes: the rows a delete's cascade takes, from before_write


class VersionFold:
    """The `fold_into_write` answer: the version in the write's own statement."""

    def __init__(self, versions: Versions, action: str):
        self.versions, self.action = versions, PAST[action]

    def ctes(self, written: str, previous: str | None = None) -> list[tuple[str, exp.Expression]]:
        """A version is the row as written: the row as it was (`previous`) is not needed."""
        return [(CTE, self.versions.folded(written))]

    def values(self, identity: Identity | None, previous: dict[str, Any] | None) -> dict[str, Any]:
        return {"hist_action": self.action, "hist_actor": actor(identity)}


class HistoryWrites:
    def __init__(self, spec: Spec):
        self.versions = {name: Versions(r) for name, r in spec.resources.items() if r.history is not None}
        # A delete's cascade removes or changes rows of other resources in the database itself: they
        # are found before it (the events feature's walk) so each gets its version too.
        self.walker = CascadeWalker(spec)
        self._reaches = {name: self._reaches_history(name, set()) for name in spec.resources}

    def _reaches_history(self, name: str, seen: set[str]) -> bool:
        seen.add(name)
        for child, reference in self.walker.referrers.get(name, ()):
            if child.name in self.versions:
                return True
            if reference.on_delete == "cascade" and child.name not in seen and self._reaches_history(child.name, seen):
                return True
        return False

    @hookimpl(trylast=True)
    def write_needs_transaction(self) -> None:
        """Never: an alone write folds its version in (deletes always have a transaction)."""
        return None

    @hookimpl(trylast=True)
    def write_needs_previous(self) -> None:
        """Never: `before_write` looks at `previous` on deletes only."""
        return None

    @hookimpl(trylast=True)
    def fold_into_write(self, resource: Resource, action: str) -> VersionFold | None:
        versions = self.versions.get(resource.name)
        return VersionFold(versions, action) if versions is not None and action in ("create", "update") else None

    @hookimpl(trylast=True)
    def before_write(
        self, context: WriteContext, resource: Resource, action: str, previous: dict[str, Any] | None
    ) -> Awaitable[None] | None:
        """Before a (hard) delete, the rows of resources with history its cascade will delete or
        change (None at once for every other write)."""
        if action != "delete" or previous is None or resource.soft_delete is not None:
            return None
        if not self._reaches.get(resource.name):
            return None
        return self._note_cascaded(context, resource, previous)

    async def _note_cascaded(self, context: WriteContext, resource: Resource, previous: dict[str, Any]) -> None:
        affected = await self.walker.walk(context.conn, resource, previous)
        context.notes[CASCADED] = [a for a in affected if a.resource.name in self.versions]

    @hookimpl(trylast=True)
    def after_write(
        self, context: WriteContext, resource: Resource, action: str, record: dict[str, Any], identity: Identity | None
    ) -> Awaitable[None] | None:
        """None at once when the statement wrote the version itself (each row of a bulk create has
        no coroutine to await); else the versions to write."""
        if CASCADED not in context.notes and (resource.name not in self.versions or context.folded(VersionFold)):
            return None
        return self._write_versions(context, resource, action, record, identity)

    async def _write_versions(
        self, context: WriteContext, resource: Resource, action: str, record: dict[str, Any], identity: Identity | None
    ) -> None:
        for affected in context.notes.pop(CASCADED, ()):
            record_id = affected.before[affected.resource.primary_key]
            deleted = affected.action == "deleted"
            await self.versions[affected.resource.name].write(
                context.conn, record_id, affected.action, identity, deleted
            )
        versions = self.versions.get(resource.name)
        if versions is None or context.folded(VersionFold):
            return
        record_id = record[resource.primary_key]
        await versions.write(context.conn, record_id, PAST[action], identity, deleted=action == "delete")
