"""Events: a transactional outbox, on_event delivery, a live SSE stream with resume, and history.

- outbox.py     every write's events, inserted in the write's transaction (and cascade.py for the
                rows a delete takes with it)
- dispatcher.py committed events from the table to this process (listener.py: LISTEN/NOTIFY)
- delivery.py   on_event handlers: at least once, in order per record, retried, failures kept
- hub.py, stream.py  GET /api/events/stream;  history.py  GET /api/events
- visibility.py the read rules applied to events;  commands.py `resource-engine events ...`

The plugin that wires these into the app is engine.features.events.plugin; docs/events.md is the guide.
"""

from engine.features.events.payload import Event
from engine.kernel.event import HandlerFailed

__all__ = ["Event", "HandlerFailed"]
