"""Migrations generated from the spec: model the spec, diff it, write files, apply them."""

from engine.migrations.diff import RenameProblem, Step, diff, renamed
from engine.migrations.files import MigrationFile, latest_snapshot, read_all, same_numbers, write_next
from engine.migrations.model import spec_model
from engine.migrations.runner import MigrationError, Status, apply, status
from engine.spec import Spec


def pending_steps(spec: Spec, directory: str, renames: dict[tuple[str, str], str] | None = None) -> list[Step]:
    """What the spec asks for that the migration files in `directory` do not yet produce.

    `renames` ((table, column) -> new name) are columns renamed in the spec: renamed in place, data kept."""
    model = spec_model(spec)
    old, steps = renamed(latest_snapshot(read_all(directory)), model, renames or {})
    return steps + diff(old, model)


__all__ = [
    "MigrationError",
    "MigrationFile",
    "RenameProblem",
    "Status",
    "Step",
    "apply",
    "diff",
    "latest_snapshot",
    "pending_steps",
    "read_all",
    "same_numbers",
    "spec_model",
    "status",
    "write_next",
]
