"""Built-in browser sessions: a session cookie signs a browser in, guarded by a CSRF token.

The cookie is HttpOnly, SameSite=Lax, and Secure in production. A request authenticated by the
cookie that changes something (POST, PATCH, DELETE ...) must repeat the session's CSRF token in
`X-CSRF-Token` (from `GET /auth/csrf`), else 403. A request with an Authorization header is
not a cookie request: the header decides, and no CSRF token is needed.
"""

from __future__ import annotations

from collections.abc import Awaitable

from aiohttp import web
from aiohttp.typedefs import Middleware

from engine.db.internal import ensure_tables
from engine.db.redis import shared_redis
from engine.features.accounts.retired import USERS
from engine.features.sessions import registry
from engine.features.sessions import store as sessions
from engine.features.sessions.openapi import session_paths
from engine.http.keys import POOL
from engine.http.responses import json_response
from engine.kernel.config import Config
from engine.kernel.errors import Forbidden
from engine.kernel.hooks import for_resources, hookimpl
from engine.kernel.identity import Identity
from engine.spec import Resource, Spec

SETTINGS = web.AppKey("session_settings", sessions.SessionSettings)
NO_STORE = {"Cache-Control": "no-store"}


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    settings = sessions.SessionSettings.from_config(config, sessions.default_secret_file(spec.root))
    # The app's shared client: short timeouts and the circuit breaker (engine.db.redis); closed with the app.
    redis = shared_redis(app, config) if settings.redis_url else None
    app[SETTINGS] = settings
    app[sessions.STORAGE] = sessions.build_storage(settings, redis)


@hookimpl(trylast=True)
@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    await ensure_tables(app[POOL], registry.MODEL)


@hookimpl(trylast=True)
def register_middlewares(app: web.Application, spec: Spec) -> list[Middleware]:
    return [sessions.session_middleware]


@hookimpl(trylast=True)
async def identity_from_request(request: web.Request) -> Identity | None:
    if "Authorization" in request.headers or request.app[SETTINGS].cookie_name not in request.cookies:
        return None
    session = await sessions.get_session(request)
    identity = await sessions.live_identity(request, session)
    if identity is None:
        return None
    if request.method not in sessions.SAFE_METHODS and not sessions.csrf_matches(
        session, await sessions.sent_csrf_token(request)
    ):
        raise Forbidden(
            f"a request signed in by the session cookie must send the {sessions.CSRF_HEADER} header "
            f"(or, from an HTML form, the {sessions.CSRF_FIELD} field) with the token from GET /auth/csrf"
        )
    return identity


@hookimpl(trylast=True)
@for_resources(lambda resource: resource.name == USERS)
def write_needs_transaction() -> bool:
    """Ending a deleted user's sessions only happens on deletes, which always run in a transaction."""
    return False


@hookimpl(trylast=True)
@for_resources(lambda resource: resource.name == USERS)
def after_write(conn, resource: Resource, action: str, previous) -> Awaitable[None] | None:
    """A deleted user's sessions end in the delete's own transaction (None at once otherwise)."""
    if action == "delete" and resource.name == USERS:
        return registry.end_all(conn, str(previous[resource.primary_key]))
    return None


async def csrf(request: web.Request) -> web.Response:
    """The current session's CSRF token, for the X-CSRF-Token header of unsafe requests."""
    session = await sessions.get_session(request)
    return json_response({"csrf_token": sessions.csrf_token(session)}, headers=NO_STORE)


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    return [web.get("/auth/csrf", csrf, allow_head=False)]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    session_paths(document)
