"""Browser sessions (aiohttp-session): settings, storage, and the operations the auth plugins share.

A session is an encrypted cookie by default, or a random id pointing at Redis when REDIS_URL is
set. It holds who signed in, their CSRF token, and a sign-in in progress. Signing in always
starts a NEW session (a fresh id and CSRF token), so an id planted before sign-in is worthless.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiohttp_session import AbstractStorage, Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.features.jwt_auth.tokens import check_secret_length, fallback_secret
from engine.features.sessions import registry
from engine.http.keys import POOL
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError, Unauthorized
from engine.kernel.identity import Identity

COOKIE_NAME = "engine_session"
USER, ROLES, CSRF, SID = "user_id", "roles", "csrf", "sid"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"  # the same token as a field of a plain HTML form (the console's forms)
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


@dataclass(frozen=True)
class SessionSettings:
    secret: str | None  # encrypts cookie sessions; unused with Redis
    redis_url: str | None
    max_age: int
    secure: bool
    cookie_name: str = COOKIE_NAME

    @classmethod
    def from_config(cls, config: Config, secret_file: str) -> SessionSettings:
        secret = config.value("ENGINE_SESSION_SECRET")
        if secret is None and config.redis_url is None:
            secret = fallback_secret(
                secret_file,
                development=not config.production,
                missing="sessions need ENGINE_SESSION_SECRET (32+ bytes) or REDIS_URL in production "
                "(or disable the `sessions` plugin in resources.yaml: plugins: {disabled: [sessions]})",
            )
        check_secret_length("ENGINE_SESSION_SECRET", secret, user="it")
        max_age = config.value("ENGINE_SESSION_MAX_AGE")
        return cls(secret=secret, redis_url=config.redis_url, max_age=max_age, secure=config.production)


def fernet_key(secret: str) -> bytes:
    """A Fernet key derived from the configured secret (any length of 32+ bytes works)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"resource-engine session cookie")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


def _encode(value: Any) -> str:
    return orjson.dumps(value).decode()


def build_storage(settings: SessionSettings, redis: Any = None) -> AbstractStorage:
    cookie = dict(
        cookie_name=settings.cookie_name,
        max_age=settings.max_age,
        secure=settings.secure,
        httponly=True,
        samesite="Lax",
        path="/",
        encoder=_encode,
        decoder=orjson.loads,
    )
    if redis is not None:
        from engine.features.sessions.redis_store import RedisSessions  # the redis package: with Redis only

        return RedisSessions(redis, key_factory=lambda: secrets.token_urlsafe(32), **cookie)
    if settings.secret is None:
        raise ConfigurationError("cookie sessions need ENGINE_SESSION_SECRET")
    return EncryptedCookieStorage(Fernet(fernet_key(settings.secret)), **cookie)


def default_secret_file(root: str) -> str:
    return os.path.normpath(os.path.join(root, ".engine", "session-secret"))


# --- the session of the current request ---------------------------------------------------------
# aiohttp-session's own middleware keeps state under string keys, which aiohttp deprecates;
# these few lines do the same with typed keys around the library's storages.

STORAGE = web.AppKey("session_storage", AbstractStorage)
SESSION = web.RequestKey("session", Session)


async def get_session(request: web.Request) -> Session:
    session = request.get(SESSION)
    if session is None:
        storage = request.app[STORAGE]
        cookie = request.cookies.get(storage.cookie_name)
        if cookie is not None and not cookie.isascii():  # not one we set (Fernet text and Redis ids are ASCII)
            session = request[SESSION] = await storage.new_session()  # unknown: anonymous, as any bad cookie
        else:
            session = request[SESSION] = await storage.load_session(request)
    return session


async def new_session(request: web.Request) -> Session:
    """Replace the request's session by an empty one with a new id (the old one is not saved)."""
    session = request[SESSION] = await request.app[STORAGE].new_session()
    return session


@web.middleware
async def session_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Save the session into the response when a handler changed it."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects raised by handlers carry the session too
        await _save(request, exc)
        raise
    await _save(request, response)
    return response


async def _save(request: web.Request, response: web.StreamResponse) -> None:
    session = request.get(SESSION)
    if session is not None and getattr(session, "_changed", True) and not response.prepared:
        await request.app[STORAGE].save_session(request, response, session)


async def current_session(request: web.Request) -> Session | None:
    """The request's session, or None when the sessions plugin is not installed."""
    if STORAGE not in request.app:
        return None
    return await get_session(request)


def identity_of(session: Session) -> Identity | None:
    user_id = session.get(USER)
    if not isinstance(user_id, str) or not user_id:
        return None
    roles = session.get(ROLES) or []
    return Identity(user_id, frozenset(roles) | {"user"}, via="session")


def csrf_token(session: Session) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF)
    if not isinstance(token, str):
        token = session[CSRF] = secrets.token_urlsafe(32)
    return token


async def sent_csrf_token(request: web.Request) -> str | None:
    """The CSRF token a request sent: the header, else the field of an HTML form's body."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in FORM_TYPES:
        try:
            value = (await request.post()).get(CSRF_FIELD)
        except ValueError:  # a malformed form body: no token (a 403), never a 500
            return None
        sent = value if isinstance(value, str) else None
    return sent


def csrf_matches(session: Session, sent: str | None) -> bool:
    """Whether `sent` is the session's token (ASCII, as issued: a header's other bytes are surrogates)."""
    token = session.get(CSRF)
    if not isinstance(token, str) or sent is None or not sent.isascii():
        return False
    return hmac.compare_digest(token.encode(), sent.encode())


async def end_session(request: web.Request) -> None:
    """End the session on the server (its record), then empty it: the cookie is cleared and a Redis
    entry deleted when the response goes out."""
    session = await current_session(request)
    if session is None or session.new:
        return
    if isinstance(session.get(SID), str):
        await registry.end(request.app[POOL], session[SID])
    session.invalidate()


async def _forget(storage: AbstractStorage, session: Session) -> None:
    """Delete the session's server-side entry where the storage keeps one (Redis: redis_store.py)."""
    forget = getattr(storage, "forget", None)
    if forget is not None and session.identity is not None:
        await forget(session.identity)


async def start_session(request: web.Request, user_id: str, roles: list[str]) -> Session:
    """Sign in: discard the old session and begin a new one with a new id, record and CSRF token."""
    old = await get_session(request)
    storage = request.app[STORAGE]
    await _forget(storage, old)
    session = await new_session(request)
    session[USER] = user_id
    session[ROLES] = roles
    session[SID] = await registry.register(request.app[POOL], user_id, storage.max_age or 0)
    csrf_token(session)
    return session


async def live_identity(request: web.Request, session: Session) -> Identity | None:
    """The session's identity while its server record is live; an ended, expired or unrecorded
    session (logged out, signed out everywhere, user deleted) is a 401 that clears the cookie."""
    identity = identity_of(session)
    if identity is None:
        return None
    session_id = session.get(SID)
    if isinstance(session_id, str) and "\x00" not in identity.user_id:
        if await registry.is_live(request.app[POOL], session_id, identity.user_id):
            return identity
    storage = request.app[STORAGE]
    await _forget(storage, session)
    raise Unauthorized(
        "this session has ended (signed out, or the user was deleted); sign in again",
        headers={"Set-Cookie": _clearing_cookie(storage)},
    )


def _clearing_cookie(storage: AbstractStorage) -> str:
    response = web.Response()
    params = storage.cookie_params
    response.del_cookie(
        storage.cookie_name,
        path=params.get("path") or "/",
        secure=params.get("secure"),
        httponly=params.get("httponly"),
        samesite=params.get("samesite"),
    )
    return response.cookies[storage.cookie_name].OutputString()
