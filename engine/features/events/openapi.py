"""OpenAPI description of GET /api/events and GET /api/events/stream (called from the events
plugin's `register_openapi` hook). The history's parameters come from the same EVENTS_RESOURCE
its handler parses with, so the document lists exactly the filters the server accepts."""

from __future__ import annotations

from typing import Any

from engine.features.events.tables import EVENTS_RESOURCE
from engine.features.openapi.parameters import list_parameters
from engine.features.openapi.problems import problems
from engine.features.openapi.query_power import count_parameters

TAGS = ["events"]
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A committed change. See docs/events.md.",
    # Nothing is required: `fields=` returns a subset (as for resources, engine/features/openapi/schemas.py).
    "properties": {
        "id": {"type": "integer", "description": "Unique. Streams deliver in commit-safe order, not always id order."},
        "resource": {"type": "string"},
        "action": {"enum": ["created", "updated", "deleted"]},
        "record_id": {"type": "string"},
        "actor": {"type": ["string", "null"]},
        "at": {"type": "string", "format": "date-time"},
        "data": {"type": "object", "description": "The row after the change (as it was, for deleted)."},
        "changes": {
            "type": ["object", "null"],
            "description": "`updated` only: each changed field's `before` and `after`.",
        },
    },
}

# One server-sent event as clients parse it: `data` holds the event as JSON text.
SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "id": {"type": "string"},
        "event": {"type": "string"},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "retry": {"type": "integer"},
    },
}


def events_paths(document: dict[str, Any], *, page_size: int, max_page_size: int) -> None:
    document["components"]["schemas"]["Event"] = EVENT_SCHEMA
    event = {"$ref": "#/components/schemas/Event"}
    document["paths"]["/api/events"] = {
        "get": {
            "operationId": "list_events",
            "tags": TAGS,
            "summary": "Events about rows you may read, with the list query language",
            "parameters": [
                *list_parameters(EVENTS_RESOURCE, page_size=page_size, max_page_size=max_page_size),
                *count_parameters(),
            ],
            "responses": {
                "200": {
                    "description": "One page of events.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["data", "meta"],
                                "properties": {"data": {"type": "array", "items": event}, "meta": {"type": "object"}},
                            }
                        }
                    },
                },
                **problems("BadRequest", "Unauthorized", "Forbidden"),
            },
        }
    }
    document["paths"]["/api/events/stream"] = {
        "get": {
            "operationId": "stream_events",
            "tags": TAGS,
            "summary": "Live Server-Sent Events; resumes after Last-Event-ID",
            "parameters": [
                {
                    "name": "resources",
                    "in": "query",
                    "description": "Comma-separated resources to follow (default: all you may read).",
                    "schema": {"type": "string"},
                },
                {
                    "name": "last_event_id",
                    "in": "query",
                    "description": "Resume after this event id (for clients that cannot set Last-Event-ID).",
                    "schema": {"type": "integer", "minimum": 0},
                },
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "description": "Resume after this event id.",
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            "responses": {
                "200": {
                    "description": "`text/event-stream`: `id:` the event id, `event:` resource.action, "
                    "`data:` the event as JSON.",
                    # Before OpenAPI 3.2, `schema` of an event stream describes each event (as 3.2's itemSchema).
                    "content": {"text/event-stream": {"schema": SSE_EVENT}},
                },
                "410": {
                    "description": "Events after that id were pruned: reload, then connect without an id.",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                },
                **problems("BadRequest", "Unauthorized", "Forbidden"),
            },
        }
    }
