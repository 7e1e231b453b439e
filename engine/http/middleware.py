"""The engine's own middlewares: the request id (outermost), the error boundary and authentication
(innermost). Plugin middlewares run between them; `build_middlewares` shows the order."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from functools import partial

import asyncpg
from aiohttp import hdrs, web

from engine.http.keys import CONFIG, IDENTITY, PLUGINS, REQUEST_ID
from engine.http.responses import problem_response
from engine.kernel.errors import (
    BadRequest,
    ConfigurationError,
    Conflict,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    ServiceUnavailable,
    Unauthorized,
)
from engine.kernel.hooks import call_all, call_first
from engine.kernel.logs import request_id_var, user_id_var
from engine.resources.manager import remember_access_answers

log = logging.getLogger("engine.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# Losing the database is the server's problem, not the client's: 503 with a hint to retry.
DATABASE_UNAVAILABLE = (
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection broken mid-operation, seen when it is released
    asyncpg.PostgresConnectionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InsufficientResourcesError,  # 53xxx: disk full, out of memory
    asyncpg.ReadOnlySQLTransactionError,  # 25006: a read-only server (a replica after failover, a full disk guard)
    asyncpg.AdminShutdownError,  # 57P01 / 57P02: the server is stopping or crashed mid-statement
    asyncpg.CrashShutdownError,
    ConnectionError,
    OSError,
)


# The spec names a table or column the database lacks: a deploy whose migration is not applied yet
# (/readyz says so too). The client gets a 503 to retry, the log the traceback.
SCHEMA_BEHIND = (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError)
CLIENT_CLOSED = 499  # nginx's code for "the client went away before the response"


def new_request_id() -> str:
    """A random UUID (version 4) in hex, as ``uuid.uuid4().hex`` writes it, at a third of its cost
    (the UUID object's checks are ~2 us of every request that arrives without an id)."""
    value = int.from_bytes(os.urandom(16), "big") & _UUID4_CLEAR | _UUID4_SET
    return f"{value:032x}"


_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))  # the variant and version bits, as uuid.UUID sets them
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> Problem:
    if exc.status == 404:
        return NotFound(f"no route for {request.method} {request.path}")
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        return MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}; allowed: {allowed}", headers={"Allow": allowed}
        )
    if exc.status == 413:
        return PayloadTooLarge(f"the request body is larger than the limit of {request.app[CONFIG].body_limit} bytes")
    said = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else None  # aiohttp's default body
    kind = next((k for k in (BadRequest, Unauthorized, Forbidden, Conflict) if k.status == exc.status), Problem)
    problem = kind(said or exc.reason)  # e.g. aiohttp-cors's "CORS preflight request failed: ..." as a 403 forbidden
    problem.status, problem.title = exc.status, exc.reason
    return problem


@web.middleware
async def request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id before anything else runs: the client's when usable, else a new one."""
    incoming = request.headers.get("X-Request-ID", "")
    request[REQUEST_ID] = chosen = incoming if _REQUEST_ID.match(incoming) else new_request_id()
    request_id_var.set(chosen)  # every log line of this request carries it (one task per request)
    return await handler(request)


@web.middleware
async def error_boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into problem+json carrying the request's id; the observers outside it see
    the answer the client gets."""
    request_id = request[REQUEST_ID]
    response: web.StreamResponse | None = None
    try:
        response = await handler(request)
        response.headers["X-Request-ID"] = request_id
        if isinstance(response, web.Response) and not response.prepared:
            # The response signals (plugins' `on_response_prepare`) run here rather than after the
            # chain, where aiohttp would drop the connection if one raised: a 500 problem instead.
            # Only the headers are buffered: they leave with the body, in one send, as before.
            await response.prepare(request)
        return response
    except Problem as problem:
        response = problem_response(problem, request_id)
    except web.HTTPException as exc:
        if exc.status < 400:
            exc.headers["X-Request-ID"] = request_id
            raise
        response = problem_response(_from_http_exception(exc, request), request_id)
    except asyncio.CancelledError:
        raise
    except web.RequestPayloadError as exc:  # the body's bytes do not decode (Content-Encoding, chunks)
        cause = getattr(exc.__cause__, "message", None) or str(exc)
        response = problem_response(BadRequest(f"the request body is malformed: {str(cause).strip()}"), request_id)
        # Nothing after the failure can be trusted to be where the next request starts: close the
        # connection after this answer. Marking the body ended stops aiohttp reading on for
        # keep-alive, which would meet the same failure and log it as an unhandled exception.
        response.force_close()
        request.content.feed_eof()
    except asyncpg.TransactionRollbackError as exc:  # deadlock or serialization failure: safe to retry
        log.warning("transaction rolled back request_id=%s error=%r", request_id, exc)
        problem = Conflict(
            "a concurrent change got in the way; nothing was written, retry the request", headers={"Retry-After": "0"}
        )
        response = problem_response(problem, request_id)
    except DATABASE_UNAVAILABLE as exc:
        if isinstance(exc, ConnectionResetError) and request.transport is None:
            # aiohttp fails a body read this way once the client has gone: nobody gets this answer,
            # and the log and metrics must not blame the database.
            gone = Problem("the client closed the connection before its request was read")
            gone.status, gone.title = CLIENT_CLOSED, "Client Closed Request"
            response = problem_response(gone, request_id)
        else:
            log.warning("database unavailable request_id=%s error=%r", request_id, exc)
            problem = ServiceUnavailable("the database is unavailable; retry shortly", headers={"Retry-After": "1"})
            response = problem_response(problem, request_id)
    except SCHEMA_BEHIND as exc:  # a table or column the spec has and the database not: a migration pending
        log.exception("the database schema does not match the spec request_id=%s error=%r", request_id, exc)
        await call_all(request.app[PLUGINS].hook.on_error, request=request, error=exc)
        problem = ServiceUnavailable(
            "the database is not yet migrated to this version of the service; retry shortly",
            headers={"Retry-After": "5"},
        )
        response = problem_response(problem, request_id)
    except Exception as exc:
        log.exception("unhandled error request_id=%s %s %s", request_id, request.method, request.path)
        if response is not None:  # it was answered, and a response signal failed: say it was replaced
            log.error("the %s answer of request_id=%s was replaced by a 500", response.status, request_id)
        await call_all(request.app[PLUGINS].hook.on_error, request=request, error=exc)
        detail = "an internal error occurred; quote the request_id when reporting it"
        show_traceback = not request.app[CONFIG].production
        response = problem_response(Problem(detail), request_id, error=exc, show_traceback=show_traceback)
    response.headers["X-Request-ID"] = request_id  # the problem built above
    return response


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Ask the `authenticate` hook who is calling; None means anonymous."""
    identity = await call_first(request.app[PLUGINS].hook.identity_from_request, request=request)
    if identity is not None and not identity.storable():  # every source at once: tokens, sessions, keys
        raise Unauthorized(
            "the credentials name a user or role with characters the database cannot store",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'} if "Authorization" in request.headers else {},
        )
    request[IDENTITY] = identity
    if identity is not None:
        user_id_var.set(identity.user_id)
    remember_access_answers()  # this request's task only: aiohttp runs each request in its own
    return await handler(request)


AFTER_AUTHENTICATION = "after_authentication"
OBSERVES_ANSWERS = "observes_answers"


def after_authentication(middleware: Callable) -> Callable:
    """Mark a plugin middleware to run inside authentication, where ``request[IDENTITY]`` is known.

    For middlewares that act per caller (rate limits, response caches, idempotency keys). A request
    that authentication refuses (a bad token: 401) never reaches them.
    """
    middleware.engine_stage = AFTER_AUTHENTICATION  # type: ignore[attr-defined]
    return middleware


def observes_answers(middleware: Callable) -> Callable:
    """Mark a plugin middleware to run outside the error boundary (inside the request id).

    For middlewares that record the answer the client gets (access logs, request metrics): a failure
    reaches them as the problem response the boundary rendered, with its status and body. Nothing
    catches what such a middleware raises itself, so it must not raise.
    """
    middleware.engine_stage = OBSERVES_ANSWERS  # type: ignore[attr-defined]
    return middleware


def for_routes(applies: Callable[[web.AbstractRoute], bool]) -> Callable[[Callable], Callable]:
    """Mark a plugin middleware to run only on the routes `applies` accepts (an aiohttp route: its
    `method`, its `resource.canonical` path, its `handler`). Asked once per route, at its first
    request, so a middleware with nothing to do on most routes costs them nothing; a request no
    route matched (a 404 or 405) runs every middleware."""

    def mark(middleware: Callable) -> Callable:
        middleware.engine_routes = applies  # type: ignore[attr-defined]
        return middleware

    return mark


def for_methods(*methods: str) -> Callable[[Callable], Callable]:
    """`for_routes` for the routes of these methods (and those of any method, `*`)."""
    wanted = frozenset(methods)
    return for_routes(lambda route: route.method in wanted or route.method == hdrs.METH_ANY)


class Pipeline:
    """The middlewares as one aiohttp middleware, chained once per route with those that apply to
    it (`for_routes`): aiohttp would run every middleware on every route. The order is
    `build_middlewares`'s."""

    __middleware_version__ = 1  # a new-style aiohttp middleware

    def __init__(self, middlewares: Iterable[Callable]):
        self.middlewares = tuple(middlewares)
        self._chains: dict[web.AbstractRoute, tuple[Handler, Handler]] = {}  # route -> (its handler, the chain)

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        match_info = request.match_info
        route = match_info.route
        kept = self._chains.get(route)
        if kept is None or kept[0] is not handler:
            kept = self._chain(route, handler, every=match_info.http_exception is not None)
        return await kept[1](request)

    def check(self, routes: list[web.AbstractRoute]) -> None:
        """Ask every `for_routes` test about every route once at start-up, so one that raises stops
        the server naming it, rather than failing the first request to that route."""
        for middleware in self.middlewares:
            applies = getattr(middleware, "engine_routes", None)
            for route in routes if applies is not None else ():
                try:
                    applies(route)
                except Exception as exc:
                    where = route.resource.canonical if route.resource is not None else "?"
                    raise ConfigurationError(
                        f"the for_routes test of the middleware {getattr(middleware, '__qualname__', middleware)!r} "
                        f"raised {exc!r} on {route.method} {where}"
                    ) from exc

    def _chain(self, route: web.AbstractRoute, handler: Handler, every: bool) -> tuple[Handler, Handler]:
        """`every`: no route matched (a 404 or 405): every middleware runs, and the chain is not kept
        (aiohttp makes a new route for each such request)."""
        chain = handler
        for middleware in reversed(self.middlewares):
            applies = getattr(middleware, "engine_routes", None)
            if every or applies is None or applies(route):
                chain = partial(middleware, handler=chain)
        kept = (handler, chain)
        if not every:
            self._chains[route] = kept
        return kept


def build_middlewares(plugin_middlewares: list) -> list:
    """Outermost first: the request id, the plugins marked with `observes_answers` (the request log,
    metrics), the error boundary, plugins (deadlines, CORS ...), authentication, then the plugins
    marked with `after_authentication` (rate limits, caches), each group in hook order."""
    stages: dict[str | None, list] = {OBSERVES_ANSWERS: [], None: [], AFTER_AUTHENTICATION: []}
    for middleware in plugin_middlewares:
        stage = getattr(middleware, "engine_stage", None)
        stages[stage if stage in stages else None].append(middleware)
    return [
        request_id,
        *stages[OBSERVES_ANSWERS],
        error_boundary,
        *stages[None],
        authentication,
        *stages[AFTER_AUTHENTICATION],
    ]
