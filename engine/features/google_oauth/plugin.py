"""Built-in Google sign-in (OpenID Connect authorization code flow with PKCE) into a browser session.

- `GET /auth/google/login[?next=/a/path]`: 302 to the provider; state, nonce, the PKCE verifier and
  `next` (a path on this site only) wait in the session.
- `GET /auth/google/callback`: checks state, exchanges the code, verifies the ID token, creates or
  updates the `users` row (google_id, email, name), starts a NEW session (its roles: `admin` when
  ENGINE_ADMINS names the user, and whatever else `user_roles` says they hold) and redirects to
  `next`, or else ENGINE_LOGIN_REDIRECT. Any failure is a problem response and leaves no session behind.
Configured by ENGINE_GOOGLE_CLIENT_ID / _SECRET (+ _DISCOVERY_URL, _REDIRECT_URI); off without them.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from engine.db.internal import ensure_tables
from engine.features.accounts.roles import user_columns
from engine.features.google_oauth.oidc import OidcClient, OidcSettings, PendingSignIn, SignInRefused
from engine.features.google_oauth.openapi import google_paths
from engine.features.google_oauth.spent import SPENT, spend
from engine.features.sessions import store as sessions
from engine.http.handlers import write_shared
from engine.http.keys import MANAGERS, PLUGINS, POOL, REQUEST_ID
from engine.http.responses import problem_response
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError, NotFound, Problem
from engine.kernel.hooks import hookimpl
from engine.kernel.identity import Identity
from engine.resources.access import held_roles
from engine.resources.context import WriteContext
from engine.resources.listing import ListQuery
from engine.resources.manager import ResourceManager
from engine.spec import Spec
from engine.sql.queries import Filter, SortKey

SETTINGS = web.AppKey("google_settings", OidcSettings)
CLIENT = web.AppKey("google_client", OidcClient)
ADMINS = web.AppKey("google_admins", frozenset)
PENDING = "google_sign_in"
NEXT = "google_sign_in_next"  # where the browser asked to go after signing in (?next=, a path here)
USERS = "users"
USER_FIELDS = ("email", "google_id")
# Writes the users row on the user's behalf: the user may not set their own email or google_id.
SIGN_IN = Identity("system:google-sign-in", frozenset({"admin", "user"}), via="google")
NO_STORE = {"Cache-Control": "no-store"}
ADMIN = frozenset({"admin"})


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    settings = OidcSettings.from_env(config.extra, production=config.production)
    if settings is None:
        return
    users = spec.resources.get(USERS)
    missing = [f for f in USER_FIELDS if users is None or f not in users.fields]
    if missing:
        raise ConfigurationError(f"Google sign-in needs a `{USERS}` resource with the fields {', '.join(missing)}")
    if app[PLUGINS].get_plugin("sessions") is None:
        raise ConfigurationError("Google sign-in needs the `sessions` plugin (it is disabled in resources.yaml)")
    app[SETTINGS] = settings
    app[ADMINS] = frozenset(name.strip() for name in config.value("ENGINE_ADMINS") or () if name.strip())


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    if SETTINGS in app:
        await ensure_tables(app[POOL], SPENT)
        app[CLIENT] = OidcClient(app[SETTINGS])


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    if CLIENT in app:
        await app[CLIENT].close()


def _client(request: web.Request) -> OidcClient:
    client = request.app.get(CLIENT)
    if client is None:
        raise NotFound("Google sign-in is not configured (ENGINE_GOOGLE_CLIENT_ID, ENGINE_GOOGLE_CLIENT_SECRET)")
    return client


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, **NO_STORE})


def local_path(value: object) -> str | None:
    """`value` when it is a path on this site (``/console/r/agents``), else None: never another
    site (``//evil.test``, ``https://...``, ``/\\evil.test``), so ?next= opens no redirect."""
    if (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and value.isprintable()
    ):
        return value[:2000]
    return None


async def login(request: web.Request) -> web.Response:
    client = _client(request)
    provider = await client.provider()
    pending = PendingSignIn.new(client.settings.callback_url(request.scheme, request.host))
    session = await sessions.get_session(request)
    session[PENDING] = pending.as_dict()
    session[NEXT] = local_path(request.query.get("next"))
    return _redirect(client.authorization_url(provider, pending))


async def callback(request: web.Request) -> web.Response:
    client = _client(request)
    session = await sessions.get_session(request)
    pending = PendingSignIn.from_session(session.pop(PENDING, None))
    after = local_path(session.pop(NEXT, None)) or client.settings.login_redirect
    try:
        pending, code = client.check_callback(pending, request.query)
        if not await spend(request.app[POOL], pending.state):
            raise SignInRefused("this sign-in was already completed (a replayed sign-in cookie); start again")
        provider = await client.provider()
        id_token = await client.exchange(provider, code, pending)
        claims = await client.verify_id_token(provider, id_token, pending.nonce)
        user_id = await upsert_user(request.app[MANAGERS][USERS], claims, WriteContext(SIGN_IN, write_shared(request)))
    except Problem as problem:
        await sessions.end_session(request)  # refused: whatever session this browser had is gone
        return problem_response(problem, request[REQUEST_ID])
    held = await held_roles(request.app[PLUGINS], request.app, user_id) or frozenset()
    roles = sorted({*sign_in_roles(request.app, user_id, claims), *held} - {"user"})
    await sessions.start_session(request, user_id, roles)
    return _redirect(after)


def sign_in_roles(app: web.Application, user_id: str, claims: dict[str, Any]) -> list[str]:
    """The roles a Google sign-in starts its session with: `admin` for the user ids and verified
    e-mails ENGINE_ADMINS names (the e-mail was checked verified by `upsert_user`), else none."""
    return sorted(ADMIN) if _named(app[ADMINS], user_id, claims.get("email")) else []


def _named(admins: frozenset[str], user_id: str, email: Any) -> bool:
    """Whether ENGINE_ADMINS names the user's id or (compared without case) their e-mail."""
    return user_id in admins or (isinstance(email, str) and email.lower() in {a.lower() for a in admins})


@hookimpl(trylast=True)
async def user_roles(app: web.Application, user_id: str) -> frozenset[str] | None:
    """`admin` now for whom ENGINE_ADMINS names (API keys keep it only then); no answer when unset.

    The e-mail compared is the one on the user's row, and only when the users resource `protected`s
    it: then only a Google sign-in (a verified address) and admins write it, never the user."""
    admins = app.get(ADMINS)
    if not admins:
        return None
    if user_id in admins:
        return ADMIN
    users = app[MANAGERS][USERS]
    if "email" not in users.resource.protected:
        return frozenset()
    row = await user_columns(app[POOL], users, user_id, ("email",))
    return ADMIN if row is not None and _named(admins, user_id, row["email"]) else frozenset()


async def _find(users: ResourceManager, field: str, value: Any) -> dict[str, Any] | None:
    query = ListQuery(filters=(Filter(field, "eq", value),), sort=(SortKey(users.resource.primary_key),), limit=1)
    rows, _ = await users.list(query, SIGN_IN)
    return rows[0] if rows else None


async def upsert_user(users: ResourceManager, claims: dict[str, Any], context: WriteContext) -> str:
    """The users row for this Google account: found by google_id, else linked by verified email, else new."""
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") not in (True, "true"):
        raise SignInRefused("the Google account has no verified email address")
    google_id = claims["sub"]
    wanted = {"google_id": google_id, "email": email}
    if isinstance(claims.get("name"), str) and "name" in users.resource.fields:
        wanted["name"] = claims["name"]
    row = await _find(users, "google_id", google_id) or await _find(users, "email", email)
    pk = users.resource.primary_key
    if row is None:
        if not users.resource.pk.generated:
            wanted[pk] = str(uuid.uuid4())
        return str((await users.create(wanted, context))[pk])
    if row.get("google_id") not in (None, google_id):
        raise SignInRefused("this email address belongs to a user signed in with another Google account")
    changes = {k: v for k, v in wanted.items() if row.get(k) != v}
    if changes:
        await users.update(str(row[pk]), changes, context.for_write())
    return str(row[pk])


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    return [
        web.get("/auth/google/login", login, allow_head=False),
        web.get("/auth/google/callback", callback, allow_head=False),
    ]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    google_paths(document)
