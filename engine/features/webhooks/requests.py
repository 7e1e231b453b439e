"""What admins send to manage webhooks: endpoint bodies and replay ranges, validated into values."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from jsonschema import Draft202012Validator

from engine.features.events.payload import emits
from engine.features.webhooks.sender import literal, public
from engine.kernel.errors import BadRequest, Forbidden, NotFound, Unauthorized, ValidationFailed
from engine.kernel.identity import Identity
from engine.spec import Spec

ACTIONS = ("created", "updated", "deleted")
SCOPE = "webhooks"  # API keys reach these routes with webhooks:read / webhooks:write
MAX_LIST = 500

_NAMES = {"type": "array", "minItems": 1, "maxItems": 200, "uniqueItems": True, "items": {"type": "string"}}
ENDPOINT_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "minLength": 1, "maxLength": 2000, "description": "http(s) URL receiving POSTs."},
        "resources": {**_NAMES, "description": "Resource names whose events to deliver; `*` for all."},
        "actions": {
            **_NAMES,
            "items": {"enum": list(ACTIONS)},
            "description": "created, updated, deleted (default: all three).",
        },
        "filter": {
            "type": ["object", "null"],
            "description": "Fields the event's data must hold: {field: value} or {field: [any of these]}.",
        },
        "description": {"type": ["string", "null"], "maxLength": 1000},
        "enabled": {"type": "boolean", "description": "false pauses deliveries; true resumes a disabled endpoint."},
    },
}
REPLAY_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["since"],
    "properties": {
        "since": {"type": "string", "description": "RFC 3339: deliveries created at or after it."},
        "until": {"type": "string", "description": "RFC 3339: created before it (default: now)."},
        "status": {"enum": ["pending", "succeeded", "failed"], "description": "Only deliveries in this state."},
    },
}
_ENDPOINT = Draft202012Validator(ENDPOINT_BODY)
_REPLAY = Draft202012Validator(REPLAY_BODY)


def require_admin(identity: Identity | None, write: bool) -> Identity:
    """Webhooks are an admin's business; an admin's API key needs the webhooks scope too."""
    if identity is None:
        raise Unauthorized("sign in as an admin to manage webhooks", headers={"WWW-Authenticate": 'Bearer realm="api"'})
    if not identity.is_admin:
        raise Forbidden("only admins manage webhooks")
    if not identity.permits(SCOPE, "create" if write else "read"):
        raise Forbidden(f"the scopes of this credential do not allow {'changing' if write else 'reading'} webhooks")
    return identity


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def path_id(request: web.Request, name: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(f"no such {what}") from None


def _errors(validator: Draft202012Validator, body: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"path": "/" + "/".join(str(p) for p in e.absolute_path), "message": e.message[:300]}
        for e in validator.iter_errors(body)
    ]


def endpoint_values(
    body: dict[str, Any], spec: Spec, allowed: frozenset[str], current: dict[str, Any] | None
) -> dict[str, Any]:
    """A create (current None: url and resources required) or a change of an endpoint, checked."""
    errors = _errors(_ENDPOINT, body)
    if current is None:
        errors += [{"path": f"/{n}", "message": f"'{n}' is required"} for n in ("url", "resources") if n not in body]
    if errors:
        raise ValidationFailed(errors)
    values = {"actions": list(ACTIONS), "filter": None, "description": None, "enabled": True, **(current or {}), **body}
    errors += _url_errors(values["url"], allowed)
    for name in values["resources"]:
        resource = spec.resources.get(name)
        if name != "*" and resource is None:
            errors.append({"path": "/resources", "message": f"no resource named {name!r}"})
        elif resource is not None and not any(emits(resource, action) for action in values["actions"]):
            errors.append({"path": "/resources", "message": f"{name} emits none of these events (see its events:)"})
    if errors:
        raise ValidationFailed(errors)
    return values


def _url_errors(url: str, allowed: frozenset[str]) -> list[dict[str, str]]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [{"path": "/url", "message": "must be an http or https URL with a host"}]
    host = parts.hostname.lower()
    address = literal(host)
    if address is not None and host not in allowed and address not in allowed and not public(address):
        return [
            {
                "path": "/url",
                "message": f"{address} is a private, loopback or link-local address; "
                "ENGINE_WEBHOOK_ALLOW_HOSTS must name it first",
            }
        ]
    return []


def replay_range(body: dict[str, Any], now: datetime) -> dict[str, Any]:
    errors = _errors(_REPLAY, body)
    moments = {}
    for name in ("since", "until"):
        if name in body and not errors:
            try:
                moments[name] = datetime.fromisoformat(body[name])
            except ValueError:
                errors.append({"path": f"/{name}", "message": "must be an RFC 3339 date-time"})
                continue
            if moments[name].tzinfo is None:
                errors.append({"path": f"/{name}", "message": "must name its time zone (Z or +hh:mm)"})
    if errors:
        raise ValidationFailed(errors)
    return {"since": moments["since"], "until": moments.get("until", now), "status": body.get("status")}


def list_params(request: web.Request) -> dict[str, Any]:
    status = request.query.get("status")
    if status is not None and status not in ("pending", "succeeded", "failed"):
        raise BadRequest("'status' is pending, succeeded or failed", parameter="status")
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIST:
        raise BadRequest(f"'limit' is a whole number from 1 to {MAX_LIST}", parameter="limit")
    return {"status": status, "limit": limit}
