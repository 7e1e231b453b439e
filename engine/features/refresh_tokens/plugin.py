"""Built-in token endpoints: a signed-in session becomes tokens, refresh tokens rotate, logout revokes.

- `POST /auth/token`: the browser session (with its CSRF token) -> an access and a refresh token.
- `POST /auth/refresh` `{"refresh_token"}` -> a new pair; the old refresh token is spent.
- `POST /auth/logout` `{"refresh_token"}` (optional with a session) -> 204; revokes the token's
  family and ends the session on the server.
- `POST /auth/logout?all=true` -> 204; signs the caller (session, bearer token, or the refresh
  token's user) out everywhere: every refresh-token family and every session of the user ends.
  An API key may not (403): a script's credential must not end its owner's sign-ins.
Every token response is `{"access_token", "refresh_token", "token_type": "Bearer", "expires_in"}`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from engine.db.internal import ensure_tables
from engine.features.accounts import retired
from engine.features.jwt_auth.plugin import JWT
from engine.features.jwt_auth.tokens import JwtSettings, issue
from engine.features.refresh_tokens.openapi import token_paths
from engine.features.refresh_tokens.store import MODEL, RefreshTokens, revoke_user
from engine.features.sessions import registry
from engine.features.sessions import store as sessions
from engine.http.body import read_object
from engine.http.keys import CONFIG, IDENTITY, POOL
from engine.http.query import refuse_parameters
from engine.http.responses import json_response
from engine.kernel.config import Config
from engine.kernel.errors import BadRequest, Forbidden, Problem, Unauthorized, ValidationFailed
from engine.kernel.hooks import for_resources, hookimpl
from engine.spec import Resource, Spec

REFRESH = web.AppKey("refresh_tokens", RefreshTokens)
REFRESH_TTL = web.AppKey("refresh_token_ttl", int)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokensNotIssued(Problem):
    status = 501
    title = "Not Implemented"
    slug = "tokens-not-issued"


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    app[REFRESH_TTL] = config.value("ENGINE_REFRESH_TOKEN_TTL")


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    await ensure_tables(app[POOL], MODEL, retired.MODEL)
    app[REFRESH] = RefreshTokens(app[POOL], app[REFRESH_TTL])


def signing_settings(app: web.Application) -> JwtSettings:
    """The settings that sign access tokens; a 501 when this server only verifies them."""
    verifier = app.get(JWT)
    if verifier is None or verifier.settings.secret is None:
        raise TokensNotIssued("this server does not issue access tokens (it has no ENGINE_JWT_SECRET)")
    return verifier.settings


def token_response(app: web.Application, user_id: str, roles: list[str], refresh_token: str) -> web.Response:
    settings = signing_settings(app)
    body = {
        "access_token": issue(settings, user_id, roles),
        "refresh_token": refresh_token,
        "token_type": "Bearer",
        "expires_in": settings.access_ttl,
    }
    return json_response(body, headers=NO_STORE)


def _refresh_token(body: dict[str, Any], *, required: bool) -> str | None:
    value = body.get("refresh_token")
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise ValidationFailed([{"path": "/refresh_token", "message": "'refresh_token' must be the string we issued"}])
    return value


async def token(request: web.Request) -> web.Response:
    refuse_parameters(request.query, "POST /auth/token")
    identity = request[IDENTITY]
    if identity is None or identity.via != "session":
        raise Unauthorized("sign in first (GET /auth/google/login); this exchanges a browser session for tokens")
    roles = sorted(identity.roles - {"user"})
    signing_settings(request.app)  # before a refresh token is stored for nothing
    refresh_token = await request.app[REFRESH].start(identity.user_id, roles)
    return token_response(request.app, identity.user_id, roles, refresh_token)


async def refresh(request: web.Request) -> web.Response:
    refuse_parameters(request.query, "POST /auth/refresh")
    body = await read_object(request, request.app[CONFIG].body_limit)
    grant = await request.app[REFRESH].rotate(_refresh_token(body, required=True))
    return token_response(request.app, grant.user_id, grant.roles, grant.refresh_token)


def _everywhere(request: web.Request) -> bool:
    refuse_parameters(request.query, "POST /auth/logout", ("all",))
    value = request.query.get("all", "false").lower()
    if value not in ("true", "1", "false", "0"):
        raise BadRequest("the 'all' parameter is true or false")
    return value in ("true", "1")


async def logout(request: web.Request) -> web.Response:
    identity = request[IDENTITY]
    everywhere = _everywhere(request)
    if everywhere and identity is not None and identity.via == "api_key":
        raise Forbidden(
            "an API key cannot sign its owner out everywhere; sign in (session or access token) to do that, "
            "or revoke the key with DELETE /api/me/api-keys/{id}"
        )
    signed_in = identity is not None and (identity.via == "session" or everywhere)
    body = await read_object(request, request.app[CONFIG].body_limit) if request.body_exists else {}
    refresh_token = _refresh_token(body, required=not signed_in)
    if everywhere:
        user_id = identity.user_id if identity is not None else await request.app[REFRESH].owner(refresh_token or "")
        if user_id is not None:
            await sign_out_everywhere(request.app, user_id)
    elif refresh_token is not None:
        await request.app[REFRESH].revoke(refresh_token)  # unknown tokens too: logging out twice is fine
    await sessions.end_session(request)
    return web.Response(status=204, headers=NO_STORE)


async def sign_out_everywhere(app: web.Application, user_id: str) -> None:
    """End every refresh-token family and every session of `user_id`, in one transaction."""
    async with app[POOL].acquire() as conn, conn.transaction():
        await revoke_user(conn, user_id)
        if sessions.STORAGE in app:
            await registry.end_all(conn, user_id)


@hookimpl(trylast=True)
@for_resources(lambda resource: resource.name == retired.USERS)
def write_needs_transaction() -> bool:
    """Revoking a deleted user's tokens only happens on deletes, which always run in a transaction."""
    return False


@hookimpl(trylast=True)
@for_resources(lambda resource: resource.name == retired.USERS)
def after_write(conn, resource: Resource, action: str, previous) -> Awaitable[None] | None:
    """A deleted user's refresh-token families are revoked in the delete's own transaction (every
    other write, each row of a bulk one, gets its None at once, with no coroutine to await)."""
    if action == "delete" and resource.name == retired.USERS:
        return revoke_user(conn, str(previous[resource.primary_key]))
    return None


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    return [web.post("/auth/token", token), web.post("/auth/refresh", refresh), web.post("/auth/logout", logout)]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    token_paths(document)
