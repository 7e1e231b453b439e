"""Where the webhook routes appear in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.auth import json_body
from engine.features.openapi.problems import BODY_PROBLEMS, problems
from engine.features.webhooks.requests import ENDPOINT_BODY, REPLAY_BODY

TAGS = ["webhooks"]
_STAMP = {"type": ["string", "null"], "format": "date-time"}
ENDPOINT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "url": {"type": "string"},
        "resources": {"type": "array", "items": {"type": "string"}},
        "actions": {"type": "array", "items": {"type": "string"}},
        "filter": {"type": ["object", "null"]},
        "description": {"type": ["string", "null"]},
        "enabled": {"type": "boolean"},
        "failures": {"type": "integer", "description": "Consecutive failed attempts."},
        "disabled_at": _STAMP,
        "created_at": {"type": "string", "format": "date-time"},
    },
}
DELIVERY = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid", "description": "Sent as `webhook-id`."},
        "endpoint_id": {"type": "string", "format": "uuid"},
        "event_id": {"type": "integer"},
        "event_type": {"type": "string", "examples": ["agents.created"]},
        "status": {"enum": ["pending", "succeeded", "failed"]},
        "attempts": {"type": "integer"},
        "next_attempt_at": _STAMP,
        "last_attempt_at": _STAMP,
        "response_status": {"type": ["integer", "null"]},
        "last_error": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "delivered_at": _STAMP,
    },
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
_DELIVERY_ID = {**_ID, "name": "delivery_id"}


def _data(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return json_body(description, {"type": "object", "required": ["data"], "properties": {"data": schema}})


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _operation(operation_id: str, summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "tags": TAGS, "summary": summary, "responses": responses, **more}


def webhook_paths(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    schemas["WebhookEndpoint"], schemas["WebhookDelivery"] = ENDPOINT, DELIVERY
    endpoint = {"$ref": "#/components/schemas/WebhookEndpoint"}
    delivery = {"$ref": "#/components/schemas/WebhookDelivery"}
    created = {"allOf": [endpoint, {"type": "object", "properties": {"secret": {"type": "string"}}}]}
    denied = ("Unauthorized", "Forbidden")
    paths = document["paths"]
    paths["/api/webhooks"] = {
        "post": _operation(
            "webhooks_create",
            "Admins: register an endpoint (its signing secret is in this response only)",
            {"201": _data("The endpoint and its secret.", created), **problems(*denied, *BODY_PROBLEMS)},
            requestBody=_body({**ENDPOINT_BODY, "required": ["url", "resources"]}),
        ),
        "get": _operation(
            "webhooks_list",
            "Admins: every endpoint",
            {"200": _data("The endpoints.", {"type": "array", "items": endpoint}), **problems(*denied)},
        ),
    }
    paths["/api/webhooks/{id}"] = {
        "get": _operation(
            "webhooks_get",
            "Admins: one endpoint",
            {"200": _data("The endpoint.", endpoint), **problems(*denied, "NotFound")},
            parameters=[_ID],
        ),
        "patch": _operation(
            "webhooks_update",
            "Admins: change an endpoint; `enabled: true` resumes a disabled one",
            {"200": _data("The endpoint.", endpoint), **problems(*denied, "NotFound", *BODY_PROBLEMS)},
            parameters=[_ID],
            requestBody=_body(ENDPOINT_BODY),
        ),
        "delete": _operation(
            "webhooks_delete",
            "Admins: remove an endpoint and its deliveries",
            {"204": {"description": "Removed."}, **problems(*denied, "NotFound")},
            parameters=[_ID],
        ),
    }
    paths["/api/webhooks/{id}/deliveries"] = {
        "get": _operation(
            "webhooks_deliveries",
            "Admins: an endpoint's deliveries, newest first",
            {
                "200": _data("The deliveries.", {"type": "array", "items": delivery}),
                **problems("BadRequest", *denied, "NotFound"),
            },
            parameters=[
                _ID,
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["pending", "succeeded", "failed"]},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                },
            ],
        )
    }
    paths["/api/webhooks/{id}/deliveries/{delivery_id}/replay"] = {
        "post": _operation(
            "webhooks_replay_delivery",
            "Admins: send one delivery again (same webhook-id)",
            {"202": _data("The delivery, due now.", delivery), **problems(*denied, "NotFound")},
            parameters=[_ID, _DELIVERY_ID],
        )
    }
    paths["/api/webhooks/{id}/replay"] = {
        "post": _operation(
            "webhooks_replay_range",
            "Admins: send again every delivery created in a time range",
            {
                "202": _data("How many.", {"type": "object", "properties": {"replayed": {"type": "integer"}}}),
                **problems(*denied, "NotFound", *BODY_PROBLEMS),
            },
            parameters=[_ID],
            requestBody=_body(REPLAY_BODY),
        )
    }
