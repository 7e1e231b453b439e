"""Built-in account lifecycle: a deleted user's id is retired, and nothing issued to it works again.

- Deleting a row of the `users` resource records its id as retired, in the delete's transaction
  (the `sessions` and `refresh_tokens` features end that user's sessions and token families in
  the same transaction, through their own `after_write`).
- Creating a `users` row with a retired id is a 409: ids are never reused.
- Any caller whose identity names a retired id (an access token, a session, an API key: whatever
  plugin authenticated it) is a 401 on every route, before rate limits, caches and handlers.
See docs/auth.md, "Deleting a user".
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from engine.db.internal import ensure_tables
from engine.features.accounts.retired import MODEL, USERS, is_retired, retire
from engine.features.jwt_auth.tokens import INVALID_TOKEN
from engine.http.keys import IDENTITY, POOL
from engine.http.middleware import after_authentication
from engine.kernel.errors import Conflict, Unauthorized
from engine.kernel.hooks import hookimpl
from engine.spec import Resource, Spec


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    await ensure_tables(app[POOL], MODEL)


@hookimpl(trylast=True)
def write_needs_transaction(resource: Resource, action: str) -> bool:
    """Creating a user checks the retired ids after the insert, so a refusal must roll it back."""
    return resource.name == USERS and action == "create"


@hookimpl(trylast=True)
async def after_write(conn, resource: Resource, action: str, record, previous) -> None:
    if resource.name != USERS:
        return
    if action == "delete":
        await retire(conn, str(previous[resource.primary_key]))
    elif action == "create" and await is_retired(conn, str(record[resource.primary_key])):
        # Checked after the insert: a concurrent delete of the same id has committed by now (the
        # insert waited for it), so its retirement is visible to this statement.
        raise Conflict(
            "this id belonged to a deleted user and is never given out again; choose another id",
            fields=[resource.primary_key],
        )


@after_authentication
@web.middleware
async def refuse_retired_users(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A credential of a deleted user is refused, whichever plugin accepted it."""
    identity = request[IDENTITY]
    if identity is not None:
        if "\x00" in identity.user_id:  # PostgreSQL text cannot hold it, and no user has it
            raise Unauthorized("the credential names an impossible user id", headers=dict(INVALID_TOKEN))
        if await is_retired(request.app[POOL], identity.user_id):
            raise Unauthorized("the user these credentials were issued to was deleted", headers=dict(INVALID_TOKEN))
    return await handler(request)


@hookimpl(tryfirst=True)
def register_middlewares(app: web.Application, spec: Spec) -> list[Middleware]:
    """First of the per-caller middlewares: a deleted user never reaches rate limits or caches."""
    return [refuse_retired_users] if USERS in spec.resources else []
