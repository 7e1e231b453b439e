"""A small owned resource with a unique client reference, for the fault tests.

`ref` is the client's idempotency reference: unique in the table, so a duplicate write can never
hide, and the ledger can tell exactly which acknowledged writes exist afterwards.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from engine.kernel.hooks import hookimpl

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["ref"],
    "properties": {
        "id": {"type": "string", "format": "uuid", "readOnly": True},
        "owner_id": {"type": "string"},
        "ref": {"type": "string"},
        "body": {"type": "string"},
    },
}
SPEC = """\
version: 1
settings: {rate_limit: "off"}
resources:
  notes:
    schema: schemas/note.json
    owner: owner_id
    unique: [[ref]]
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
"""
SLOW = "slow"  # a note whose body is this sleeps inside its write transaction (see SlowWrites)


def write_spec(directory: Path) -> str:
    (directory / "schemas").mkdir()
    (directory / "schemas" / "note.json").write_text(json.dumps(SCHEMA))
    (directory / "resources.yaml").write_text(SPEC)
    return str(directory / "resources.yaml")


class SlowWrites:
    """A test plugin: writes of a note with body "slow" hold their transaction (and connection)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = 0
        self.finished = 0

    @hookimpl
    async def before_write(self, conn: Any, data: Any) -> None:
        # Taking `conn` makes the write hold its connection (in a transaction) while this waits.
        if data and data.get("body") == SLOW:
            self.started += 1
            try:
                await asyncio.sleep(self.seconds)
            finally:
                self.finished += 1


async def orphans(api: Any) -> tuple[int, int]:
    """(rows without their `created` event, events without their row): both must be 0."""
    found = await api.sql(
        """SELECT (SELECT count(*) FROM notes n WHERE NOT EXISTS (SELECT 1 FROM _engine_events e
                     WHERE e.resource = 'notes' AND e.action = 'created' AND e.record_id = n.id::text)) AS rows,
                  (SELECT count(*) FROM _engine_events e WHERE e.resource = 'notes' AND NOT EXISTS
                     (SELECT 1 FROM notes n WHERE n.id::text = e.record_id)) AS events"""
    )
    return found[0]["rows"], found[0]["events"]


async def pool_settled(pool: Any, attempts: int = 100) -> bool:
    """Every pool connection is back and idle (polled for a bounded time)."""
    for _ in range(attempts):
        if pool.get_idle_size() == pool.get_size():
            return True
        await asyncio.sleep(0.1)
    return False
