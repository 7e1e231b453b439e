"""The event an ``on_event`` handler receives: one committed change, typed.

Built fresh for every handler from the stored JSON, so a handler may change it freely. It also
answers ``event["id"]`` and ``event.get("data")`` like the dict handlers received before 0.2;
that mapping access is kept for one release and will then be removed: use the attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import orjson


@dataclass
class Event:
    """A committed change, as docs/events.md describes it."""

    id: int  # unique; handlers key their idempotency on it
    resource: str  # the resource's name in resources.yaml
    action: str  # created | updated | deleted
    record_id: str  # the changed row's primary key, as text
    actor: str | None  # the user id that made the change (None for system writes)
    at: str  # when the change's transaction started (ISO 8601 with offset), shared by its events
    data: dict[str, Any]  # the row after the change (before it, for deleted), minus excluded fields
    changes: dict[str, Any] | None  # on updated: {field: {"before": old, "after": new}} per changed field

    @classmethod
    def from_json(cls, document: bytes) -> Event:
        return cls(**orjson.loads(document))

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    # --- mapping access, kept for one release ---------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name) if name in self.__dataclass_fields__ else default

    def keys(self) -> list[str]:
        return list(self.__dataclass_fields__)


class HandlerFailed(Exception):
    """What ``on_error`` receives (with request=None) when an ``on_event`` handler failed its last retry.

    ``event`` is the Event, ``handler`` the handler's name, ``attempts`` how often it ran;
    ``__cause__`` is the handler's last exception.
    """

    def __init__(self, event: Event, handler: str, attempts: int, error: BaseException):
        super().__init__(f"on_event handler {handler} failed {attempts} time(s) for event {event.id}: {error!r}")
        self.event, self.handler, self.attempts = event, handler, attempts
        self.__cause__ = error
