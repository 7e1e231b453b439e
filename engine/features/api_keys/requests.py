"""What a client sends about keys: the key itself on a request, and the body that creates one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator

from engine.features.api_keys.store import looks_like_key
from engine.kernel.errors import Forbidden, Unauthorized, ValidationFailed
from engine.kernel.identity import Identity

API_KEY_HEADER = "X-API-Key"
CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
FEATURE_SCOPES = ("webhooks",)  # scope names that are not resources: built-in admin routes keys may reach
MAX_KEYS_PER_USER = 100

CREATE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "scopes"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "description": "What the key is for."},
        "scopes": {
            "type": "array",
            "minItems": 1,
            "maxItems": 200,
            "items": {"type": "string", "pattern": "^[A-Za-z0-9_*-]{1,100}:(read|write)$"},
            "description": "`<resource>:read` (list, read) or `<resource>:write` (create, update, delete); "
            "`*:read`, `*:write` for every resource.",
        },
        "roles": {
            "type": "array",
            "maxItems": 50,
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
            "description": "Roles the key may use, among yours (default: all of yours).",
        },
        "expires_at": {"type": ["string", "null"], "description": "RFC 3339 date-time; absent: never."},
    },
}
_CREATE = Draft202012Validator(CREATE_BODY)


def presented_key(request: web.Request) -> str | None:
    """The key sent as ``Authorization: Bearer rek_...`` or ``X-API-Key``; None when there is none.

    The Authorization header, when present, decides alone (as it does over a session cookie): an
    ``X-API-Key`` beside it is not read, so one request never carries two identities."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and looks_like_key(token) else None
    header = request.headers.get(API_KEY_HEADER)
    if header is None:
        return None
    if not header.strip():
        raise Unauthorized(f"the {API_KEY_HEADER} header is empty", headers=CHALLENGE)
    return header.strip()


def require_sign_in(identity: Identity | None) -> Identity:
    """Keys are managed with a sign-in (token or session): a key never mints, lists or revokes keys."""
    if identity is None:
        raise Unauthorized("sign in to manage API keys", headers={"WWW-Authenticate": 'Bearer realm="api"'})
    if identity.via == "api_key":
        raise Forbidden("API keys are managed with a sign-in (an access token or a session), not with an API key")
    return identity


def _error(path: str, message: str) -> dict[str, str]:
    return {"path": path, "message": message}


def parse_create(body: dict[str, Any], scope_names: set[str], identity: Identity) -> dict[str, Any]:
    """The validated creation request: name, scopes (of known resources), roles (among the caller's), expiry."""
    errors = [
        _error("/" + "/".join(str(p) for p in e.absolute_path), e.message[:300]) for e in _CREATE.iter_errors(body)
    ]
    if errors:
        raise ValidationFailed(errors)
    unknown = [s for s in body["scopes"] if s.partition(":")[0] not in scope_names]
    errors += [_error("/scopes", f"no resource named {s.partition(':')[0]!r}") for s in unknown]
    held = identity.roles - {"user"}
    roles = set(body.get("roles", held)) - {"user"}
    errors += [
        _error("/roles", f"you do not hold the role {r!r}, so a key of yours cannot") for r in sorted(roles - held)
    ]
    expires_at = _expiry(body.get("expires_at"), errors)
    if errors:
        raise ValidationFailed(errors)
    return {"name": body["name"], "scopes": body["scopes"], "roles": sorted(roles), "expires_at": expires_at}


def _expiry(value: str | None, errors: list[dict[str, str]]) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors.append(_error("/expires_at", "must be an RFC 3339 date-time, e.g. 2030-01-31T12:00:00Z"))
        return None
    if moment.tzinfo is None:
        errors.append(_error("/expires_at", "must name its time zone (Z or +hh:mm)"))
    elif moment <= datetime.now(UTC):
        errors.append(_error("/expires_at", "must be in the future"))
    return moment
