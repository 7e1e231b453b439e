"""Migrations generated from the spec: model the spec, diff it, write files, apply them."""

from engine.migrations.diff import Step, diff
from engine.migrations.files import MigrationFile, latest_snapshot, read_all, same_numbers, write_next
from engine.migrations.model import spec_model
from engine.migrations.runner import MigrationError, Status, apply, status
from engine.spec import Spec


def pending_steps(spec: Spec, directory: str) -> list[Step]:
    """What the spec asks for that the migration files in `directory` do not yet produce."""
    return diff(latest_snapshot(read_all(directory)), spec_model(spec))


__all__ = [
    "MigrationError",
    "MigrationFile",
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
