"""Signing in to the console: Google sign-in (the existing session), or, in development, an access token.

A pasted token is checked by the same verifier as an API request's `Authorization: Bearer`
header (features/jwt_auth), then becomes an ordinary browser session (a new one: fixed sessions are
worthless), so every later page and API call is a session request with its CSRF token.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from engine.features.accounts.plugin import user_was_deleted
from engine.features.console.pages import BASE, GOOGLE_SIGN_IN, render
from engine.features.jwt_auth.plugin import JWT
from engine.features.sessions import store as sessions
from engine.http.keys import CONFIG, IDENTITY
from engine.http.middleware import for_routes
from engine.kernel.errors import Forbidden, NotFound, Problem, Unauthorized
from engine.kernel.identity import Identity

MAX_TOKEN = 8192


def next_page(value: object) -> str:
    """Where to go after signing in: a console page only (never another site)."""
    if isinstance(value, str) and value.startswith(BASE) and "//" not in value and "\\" not in value:
        return value
    return BASE


async def signin_page(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    context = {
        "page": "signin",
        "google": request.app[GOOGLE_SIGN_IN],
        "token_sign_in": not request.app[CONFIG].production,
        "next": next_page(request.query.get("next")),
        "error": error,
    }
    return await render(request, "signin.html", context, status=status)


async def show_signin(request: web.Request) -> web.Response:
    return await signin_page(request)


async def identity_of_token(request: web.Request, token: str) -> Identity | None:
    """Who the access token names, checked by the verifier of API bearer tokens (None: not valid).

    Like the API's authentication, a token naming a user id or role PostgreSQL cannot store (a NUL,
    a lone surrogate) is refused: the session's record could not be written."""
    verifier = request.app.get(JWT)
    if verifier is None:
        return None
    try:
        identity = await verifier.verify(token)
    except Problem:
        return None
    return identity if identity.storable() else None


async def token_signin(request: web.Request) -> web.Response:
    if request.app[CONFIG].production:
        raise NotFound("signing in to the console with a pasted token is for development only")
    session = await sessions.get_session(request)
    if not sessions.csrf_matches(session, await sessions.sent_csrf_token(request)):
        raise Forbidden(f"the sign-in form must send its {sessions.CSRF_FIELD} field; reload the page and retry")
    form = await request.post()
    token = form.get("token")
    token = token.strip() if isinstance(token, str) else ""
    identity = await identity_of_token(request, token) if 0 < len(token) <= MAX_TOKEN else None
    if identity is None:
        problem = "That access token is not valid (expired, or not signed by this server)."
        return await signin_page(request, problem, 401)
    if await user_was_deleted(request.app, identity.user_id):  # its session would end at the next page
        return await signin_page(request, "That access token's user was deleted.", 401)
    await sessions.start_session(request, identity.user_id, sorted(identity.roles - {"user"}))
    raise web.HTTPSeeOther(next_page(form.get("next")))


async def signout(request: web.Request) -> web.Response:
    """Sign out (the sessions plugin already checked the form's CSRF token for a signed-in session)."""
    if request[IDENTITY] is not None:
        await sessions.end_session(request)
    raise web.HTTPSeeOther(f"{BASE}/signin")


def _console_page(route: web.AbstractRoute) -> bool:
    path = route.resource.canonical if route.resource is not None else ""
    return route.method in ("GET", "*") and (path == BASE or path.startswith(BASE + "/"))


@for_routes(_console_page)
@web.middleware
async def ended_session_to_sign_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A console page opened with an ended session (signed out elsewhere, expired, user deleted) goes
    to the sign-in page, the stale cookie cleared, instead of showing the API's 401 JSON."""
    try:
        return await handler(request)
    except Unauthorized as problem:
        if request.method != "GET" or not (request.path == BASE or request.path.startswith(BASE + "/")):
            raise
        # A bearer token is an API client's (the console's own pages go by the session cookie), and
        # the sign-in page itself must not send a refused caller back to itself.
        if "Authorization" in request.headers or request.path == f"{BASE}/signin":
            raise
        location = f"{BASE}/signin?next={quote(request.path_qs, safe='')}"
        headers = {"Location": location, "Cache-Control": "no-store"}
        if "Set-Cookie" in problem.headers:
            headers["Set-Cookie"] = problem.headers["Set-Cookie"]
        return web.Response(status=302, headers=headers)
