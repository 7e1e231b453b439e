"""A spec edited without `migrate make`: start-up says so, since no migration file is pending."""

import logging

import pytest

from engine.cli.main import main

SPEC = """
    version: 1
    resources:
      notes:
        schema: schemas/note.json
"""


@pytest.fixture
def engine_spec_path(write_spec, schema_of) -> str:
    """Migrations made for a note with a title; then a field added to the schema, and no `migrate make`."""
    note = {"id": {"type": "string", "format": "uuid"}, "title": {"type": "string"}}
    project = write_spec(SPEC, {"schemas/note.json": schema_of(note, ["title"])})
    assert main(["--spec", str(project), "migrate", "make"]) == 0
    write_spec(SPEC, {"schemas/note.json": schema_of({**note, "mood": {"type": "string"}}, ["title"])})
    return str(project)


async def test_start_up_warns_of_spec_changes_no_migration_covers(caplog, api):
    warnings = [r.getMessage() for r in caplog.get_records("setup") if r.levelno == logging.WARNING]
    assert any(
        "1 change(s) in resources.yaml are not covered by a migration (add column notes.mood)" in w
        and "resource-engine migrate make" in w
        for w in warnings
    ), warnings
