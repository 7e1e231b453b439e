"""Built-in scoped API keys, for scripts, CI jobs and SDKs that cannot hold a browser session.

- ``POST /api/me/api-keys`` {name, scopes, roles?, expires_at?} -> 201 with the key, shown this once.
- ``GET /api/me/api-keys`` -> your keys (name, prefix, scopes, roles, created, last used, expiry).
- ``DELETE /api/me/api-keys/{id}`` -> 204; the key is refused at its next request, on every worker.
- Admins: ``GET /api/api-keys?user_id=`` and ``DELETE /api/api-keys/{id}`` for anyone's keys.

A key is sent as ``X-API-Key: rek_...`` or ``Authorization: Bearer rek_...`` and signs its owner in
with ``via="api_key"``. It never grants more than its owner may do now: its scopes narrow the
owner's roles (checked by the core access decision), its roles are at most the ones its creator
held and those the ``user_roles`` answers say the owner holds now (built in: ENGINE_ADMINS and the
users resource's ``roles_field``), a deleted owner is retired
(features/accounts) and their keys deleted. Rate limits count per key. See docs/auth.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime

from aiohttp import web

from engine.db.internal import ensure_tables
from engine.features.api_keys.openapi import api_key_paths
from engine.features.api_keys.requests import (
    CHALLENGE,
    FEATURE_SCOPES,
    MAX_KEYS_PER_USER,
    parse_create,
    presented_key,
    require_sign_in,
)
from engine.features.api_keys.store import MODEL, ApiKey, ApiKeys, delete_user_keys
from engine.http.body import read_object
from engine.http.keys import CONFIG, IDENTITY, PLUGINS, POOL
from engine.http.query import refuse_parameters
from engine.http.responses import json_response
from engine.kernel.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from engine.kernel.hooks import for_resources, hookimpl
from engine.kernel.identity import Identity
from engine.resources.access import held_roles
from engine.spec import Resource, Spec

KEYS = web.AppKey("api_keys", ApiKeys)
SCOPE_NAMES = web.AppKey("api_key_scope_names", frozenset)
USERS = "users"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
ADMIN_LIST_LIMIT = 1000


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec) -> None:
    app[SCOPE_NAMES] = frozenset({"*", *spec.resources, *FEATURE_SCOPES})


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    await ensure_tables(app[POOL], MODEL)
    app[KEYS] = ApiKeys(app[POOL])


@hookimpl(trylast=True)
async def identity_from_request(request: web.Request) -> Identity | None:
    """Answered before the JWT plugin (registered before it): a ``rek_`` bearer token is a key, not a JWT."""
    key = presented_key(request)
    if key is None:
        return None
    # Keys are ASCII; a header's other bytes arrive as surrogates, which no hash can encode.
    found = await request.app[KEYS].find(key) if key.isascii() else None
    if found is None:
        raise Unauthorized("the API key is unknown or was revoked", headers=CHALLENGE)
    if found.expires_at is not None and found.expires_at <= datetime.now(UTC):
        raise Unauthorized("the API key has expired; create a new one", headers=CHALLENGE)
    roles = await current_roles(request.app, found)
    return Identity(
        found.user_id,
        frozenset(roles) | {"user"},
        via="api_key",
        scopes=frozenset(found.scopes),
        credential_id=found.id,
    )


async def current_roles(app: web.Application, key: ApiKey) -> set[str]:
    """The key's roles that its owner still holds (the union of the ``user_roles`` answers, asked
    anew on every request, so a demotion applies at the next one), or all of them without an answer."""
    roles = set(key.roles)
    if not roles:  # nothing to narrow: no question to ask (most keys)
        return roles
    held = await held_roles(app[PLUGINS], app, key.user_id)
    return roles if held is None else roles & set(held)


@hookimpl(trylast=True)
@for_resources(lambda resource: resource.name == USERS)
def write_needs_transaction() -> bool:
    """Deleting a user's keys only happens on deletes, which always run in a transaction."""
    return False


@hookimpl(trylast=True)
@for_resources(lambda resource: resource.name == USERS)
def after_write(conn, resource: Resource, action: str, previous) -> Awaitable[None] | None:
    """A deleted user's keys are deleted in the delete's own transaction (None at once otherwise)."""
    if action == "delete" and resource.name == USERS:
        return delete_user_keys(conn, str(previous[resource.primary_key]))
    return None


async def create_key(request: web.Request) -> web.Response:
    identity = require_sign_in(request[IDENTITY])
    refuse_parameters(request.query, "creating an API key")
    body = await read_object(request, request.app[CONFIG].body_limit)
    wanted = parse_create(body, set(request.app[SCOPE_NAMES]), identity)
    keys = request.app[KEYS]
    if await keys.count(identity.user_id) >= MAX_KEYS_PER_USER:
        raise Conflict(f"you have {MAX_KEYS_PER_USER} API keys, the most one user may hold; delete one first")
    created, secret = await keys.create(identity.user_id, **wanted)
    return json_response({"data": {**created.shown(), "key": secret}}, status=201, headers=NO_STORE)


async def list_own_keys(request: web.Request) -> web.Response:
    identity = require_sign_in(request[IDENTITY])
    refuse_parameters(request.query, "listing your API keys")
    keys = await request.app[KEYS].of_user(identity.user_id)
    return json_response({"data": [key.shown() for key in keys]}, headers=NO_STORE)


def _key_id(request: web.Request) -> str:
    """The path's key id; anything but a UUID names no key (404, never a database error)."""
    try:
        return str(uuid.UUID(request.match_info["id"]))
    except ValueError:
        raise NotFound("no such API key") from None


async def delete_own_key(request: web.Request) -> web.Response:
    identity = require_sign_in(request[IDENTITY])
    refuse_parameters(request.query, "deleting an API key")
    if not await request.app[KEYS].delete(_key_id(request), identity.user_id):
        raise NotFound("no such API key among yours")
    return web.Response(status=204)


def require_admin(request: web.Request) -> Identity:
    identity = require_sign_in(request[IDENTITY])
    if not identity.is_admin:
        raise Forbidden("only admins manage other users' API keys; yours are at /api/me/api-keys")
    return identity


async def list_any_keys(request: web.Request) -> web.Response:
    require_admin(request)
    refuse_parameters(request.query, "listing API keys", ("user_id",))  # a typo must not list everyone's keys
    given = request.query.getall("user_id", [])
    if len(given) > 1:
        raise BadRequest("'user_id' is given more than once; list one user's keys at a time", parameter="user_id")
    user_id = given[0] if given else None
    if user_id is not None and (not 0 < len(user_id) <= 200 or "\x00" in user_id):  # PostgreSQL text holds no NUL
        raise BadRequest("the 'user_id' parameter is a user id", parameter="user_id")
    keys = request.app[KEYS]
    found = await (keys.of_user(user_id) if user_id is not None else keys.every(ADMIN_LIST_LIMIT))
    return json_response({"data": [key.shown() for key in found]}, headers=NO_STORE)


async def delete_any_key(request: web.Request) -> web.Response:
    require_admin(request)
    refuse_parameters(request.query, "deleting an API key")
    if not await request.app[KEYS].delete(_key_id(request), None):
        raise NotFound("no such API key")
    return web.Response(status=204)


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    return [
        web.post("/api/me/api-keys", create_key),
        web.get("/api/me/api-keys", list_own_keys),
        web.delete("/api/me/api-keys/{id}", delete_own_key),
        web.get("/api/api-keys", list_any_keys),
        web.delete("/api/api-keys/{id}", delete_any_key),
    ]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    api_key_paths(document)
