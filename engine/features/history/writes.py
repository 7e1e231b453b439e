"""The write hooks that record a version of every change of a resource declaring `history:`.

Registered once per app (engine/features/history/plugin.py), holding each resource's statements.
A create or update that runs alone carries its version as a CTE of its own statement
(`fold_into_write`); any other write records it after its SQL, in its transaction (`after_write`).
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from engine.features.history.store import PAST, Versions, actor
from engine.kernel.hooks import hookimpl
from engine.kernel.identity import Identity
from engine.resources.context import WriteContext
from engine.spec import Resource, Spec

CTE = "hist_version"


class VersionFold:
    """The `fold_into_write` answer: the version in the write's own statement."""

    def __init__(self, versions: Versions, action: str):
        self.versions, self.action = versions, PAST[action]

    def ctes(self, written: str) -> list[tuple[str, exp.Expression]]:
        return [(CTE, self.versions.folded(written))]

    def values(self, identity: Identity | None, previous: dict[str, Any] | None) -> dict[str, Any]:
        return {"hist_action": self.action, "hist_actor": actor(identity)}


class HistoryWrites:
    def __init__(self, spec: Spec):
        self.versions = {name: Versions(r) for name, r in spec.resources.items() if r.history is not None}

    @hookimpl(trylast=True)
    def write_needs_transaction(self) -> None:
        """Never: an alone write folds its version in (deletes always have a transaction)."""
        return None

    @hookimpl(trylast=True)
    def fold_into_write(self, resource: Resource, action: str) -> VersionFold | None:
        versions = self.versions.get(resource.name)
        return VersionFold(versions, action) if versions is not None and action in ("create", "update") else None

    @hookimpl(trylast=True)
    async def after_write(
        self, context: WriteContext, resource: Resource, action: str, record: dict[str, Any], identity: Identity | None
    ) -> None:
        versions = self.versions.get(resource.name)
        if versions is None or any(isinstance(fold, VersionFold) for fold in context.folds):
            return
        record_id = record[resource.primary_key]
        await versions.write(context.conn, record_id, PAST[action], identity, deleted=action == "delete")
