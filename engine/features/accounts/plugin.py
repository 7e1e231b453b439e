"""Built-in account lifecycle: a deleted user's id is retired, and nothing issued to it works again.

- Deleting a row of the `users` resource records its id as retired, in the delete's transaction
  (the `sessions` and `refresh_tokens` features end that user's sessions and token families in
  the same transaction, through their own `after_write`).
- Creating a `users` row with a retired id is a 409: ids are never reused.
- Any caller whose identity names a retired id (an access token, a session, an API key: whatever
  plugin authenticated it) is a 401 on every route, before rate limits, caches and handlers.
- With `roles_field` declared on the `users` resource, that column answers the `user_roles` hook:
  the roles each user holds now (API keys keep only those; a Google sign-in starts with them).
See docs/auth.md, "Deleting a user" and "Roles held now".
"""

from __future__ import annotations

from collections.abc import Awaitable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from engine.db.internal import ensure_tables
from engine.features.accounts.known import KnownRetired
from engine.features.accounts.retired import MODEL, USERS, is_retired, retire
from engine.features.accounts.roles import roles_of, user_columns
from engine.features.jwt_auth.tokens import INVALID_TOKEN
from engine.http.keys import CONFIG, DATABASE_URL, IDENTITY, MANAGERS, POOL, SPEC, WRITE_SHARED
from engine.http.middleware import after_authentication
from engine.kernel.errors import Conflict, Unauthorized
from engine.kernel.hooks import for_resources, hookimpl
from engine.resources.context import WriteContext
from engine.spec import Resource, Spec

KNOWN = web.AppKey("accounts_known_retired", KnownRetired)
RETIRING = "accounts.retiring"  # WriteContext.shared: ids this request's deletes retire (if they commit)


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    await ensure_tables(app[POOL], MODEL)
    if USERS in app[SPEC].resources:
        known = app[KNOWN] = KnownRetired(app[DATABASE_URL], app[CONFIG].db_schema)
        await known.start()


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    known = app.get(KNOWN)
    if known is not None:
        await known.stop()


@hookimpl(trylast=True)
async def user_roles(app: web.Application, user_id: str) -> frozenset[str] | None:
    """The user's roles column, when resources.yaml declares one (`roles_field`); else no answer."""
    users = app[SPEC].resources.get(USERS)
    if users is None or users.roles_field is None:
        return None
    row = await user_columns(app[POOL], app[MANAGERS][USERS], user_id, (users.roles_field,))
    return roles_of(row, users.roles_field)


def _users(resource: Resource) -> bool:
    return resource.name == USERS


@hookimpl(trylast=True)
@for_resources(_users)
def write_needs_transaction(resource: Resource, action: str) -> bool:
    """Creating a user checks the retired ids after the insert, so a refusal must roll it back."""
    return resource.name == USERS and action == "create"


@hookimpl(trylast=True)
@for_resources(_users)
def after_write(
    conn, context: WriteContext, resource: Resource, action: str, record, previous
) -> Awaitable[None] | None:
    """Users only (None at once for every other resource's rows, with no coroutine to await)."""
    if resource.name != USERS or action not in ("create", "delete"):
        return None
    return _user_written(conn, context, resource, action, record, previous)


async def _user_written(conn, context: WriteContext, resource: Resource, action: str, record, previous) -> None:
    if action == "delete":
        user_id = str(previous[resource.primary_key])
        await retire(conn, user_id)
        context.shared.setdefault(RETIRING, []).append(user_id)
    elif action == "create" and await is_retired(conn, str(record[resource.primary_key])):
        # Checked after the insert: a concurrent delete of the same id has committed by now (the
        # insert waited for it), so its retirement is visible to this statement.
        raise Conflict(
            "this id belonged to a deleted user and is never given out again; choose another id",
            fields=[resource.primary_key],
        )


async def user_was_deleted(app: web.Application, user_id: str) -> bool:
    """Whether `user_id` belonged to a deleted user: the process's set of retired ids answers without
    a query while its listener is connected (engine.features.accounts.known), else the table."""
    known = app.get(KNOWN)  # absent only before start-up
    retired = None if known is None else known.retired(user_id)
    return await is_retired(app[POOL], user_id) if retired is None else retired


@after_authentication
@web.middleware
async def refuse_retired_users(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A credential of a deleted user is refused, whichever plugin accepted it (`user_was_deleted`)."""
    identity = request[IDENTITY]
    if identity is not None:
        user_id = identity.user_id
        if "\x00" in user_id:  # PostgreSQL text cannot hold it, and no user has it
            raise Unauthorized("the credential names an impossible user id", headers=dict(INVALID_TOKEN))
        if await user_was_deleted(request.app, user_id):
            raise Unauthorized("the user these credentials were issued to was deleted", headers=dict(INVALID_TOKEN))
    try:
        return await handler(request)
    finally:
        shared = request.get(WRITE_SHARED)
        if shared and RETIRING in shared:
            await _learn_own_retirements(request.app, shared.pop(RETIRING))


async def _learn_own_retirements(app: web.Application, user_ids: list[str]) -> None:
    """This request deleted users: once their retirement is committed, this process knows at once,
    without waiting for its own notice (the next request on this worker must already be refused)."""
    known = app.get(KNOWN)
    for user_id in user_ids:
        if known is not None and await is_retired(app[POOL], user_id):  # False when the delete rolled back
            known.add(user_id)


@hookimpl(tryfirst=True)
def register_middlewares(app: web.Application, spec: Spec) -> list[Middleware]:
    """First of the per-caller middlewares: a deleted user never reaches rate limits or caches."""
    return [refuse_retired_users] if USERS in spec.resources else []
