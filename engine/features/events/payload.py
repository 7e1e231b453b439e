"""What an event says: built from the rows a write saw, and read back from the outbox table.

Payloads are plain JSON: the row as the API would return it, minus the resource's
`events.exclude` fields, which never leave the database in an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson

from engine.kernel.identity import Identity
from engine.spec import Resource

PAST_TENSE = {"create": "created", "update": "updated", "delete": "deleted"}
ALL_ACTIONS = tuple(PAST_TENSE.values())


def emits(resource: Resource, action: str) -> bool:
    """Whether `resource` declares events for `action` (created | updated | deleted)."""
    return action in resource.events.get("emit", ALL_ACTIONS)


def payload(resource: Resource, row: dict[str, Any]) -> dict[str, Any]:
    """The row as JSON values, without the fields the resource keeps out of events."""
    data = orjson.loads(orjson.dumps(row))
    for name in resource.events.get("exclude", ()):
        data.pop(name, None)
    return data


def changed_fields(resource: Resource, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """{field: {"before": old, "after": new}} for the fields whose value changed.

    Engine-kept timestamps (updated_at) change on every write and say nothing, so they stay out.
    """
    old, new = payload(resource, before), payload(resource, after)
    managed = {name for name, field in resource.fields.items() if field.engine_managed}
    return {
        name: {"before": old.get(name), "after": value}
        for name, value in new.items()
        if name not in managed and old.get(name) != value
    }


@dataclass(frozen=True)
class PendingEvent:
    """An event built inside a write's transaction, before it has an id."""

    resource: str
    action: str
    record_id: str
    actor: str | None
    data: dict[str, Any]
    changes: dict[str, Any] | None = None

    def values(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "action": self.action,
            "record_id": self.record_id,
            "actor": self.actor,
            "data": self.data,
            "changes": self.changes,
        }


def pending(
    resource: Resource,
    action: str,
    record: dict[str, Any],
    previous: dict[str, Any] | None,
    identity: Identity | None,
) -> PendingEvent:
    """The event for one row: `record` is the row after the change (before it, for deletes)."""
    return PendingEvent(
        resource=resource.name,
        action=action,
        record_id=str(record[resource.primary_key]),
        actor=identity.user_id if identity is not None else None,
        data=payload(resource, record),
        changes=changed_fields(resource, previous, record) if action == "updated" and previous else None,
    )


@dataclass(frozen=True)
class Event:
    """A committed event, as read from the outbox. Shared by every subscriber: serialize once."""

    id: int
    resource: str
    action: str
    record_id: str
    actor: str | None
    at: datetime
    data: dict[str, Any]
    changes: dict[str, Any] | None
    tx: int = 0  # the writing transaction: with the id, the event's place in delivery order

    @classmethod
    def from_row(cls, row: Any) -> Event:
        return cls(*map(row.__getitem__, _EVENT_FIELDS))  # positional: a bulk write publishes thousands

    @property
    def position(self) -> tuple[int, int]:
        """Where this event is in delivery order (see tables.py); readers keep the last one handled."""
        return (self.tx, self.id)

    @property
    def name(self) -> str:
        """The SSE event type: <resource>.<action>."""
        return f"{self.resource}.{self.action}"

    def as_dict(self) -> dict[str, Any]:
        """The documented event shape (a fresh dict: handlers may change it freely)."""
        return orjson.loads(self.json)

    @cached_property
    def json(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "resource": self.resource,
                "action": self.action,
                "record_id": self.record_id,
                "actor": self.actor,
                "at": self.at,
                "data": self.data,
                "changes": self.changes,
            }
        )

    @cached_property
    def sse(self) -> bytes:
        """The server-sent-events frame: orjson never emits a newline, so data fits on one line."""
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (self.id, self.name.encode(), self.json)


_EVENT_FIELDS = tuple(Event.__dataclass_fields__)  # in declaration order
