"""Built-in Idempotency-Key support for creating rows (POST on a resource collection) and for the
writes of many rows: bulk creates, updates and deletes, upserts and batches (engine.http.bulk).

A retry with the same key and the same body gets the first response again (with
`Idempotent-Replayed: true`) and creates nothing; the same key with another body is 422; a
duplicate that arrives while the first is still running is 409 with Retry-After. Keys belong to
the caller (the user id; anonymous callers share one space, so they must use random keys such as
UUIDs) and are kept ENGINE_IDEMPOTENCY_TTL seconds (24 h). Only successful responses are kept: a
request that failed before committing leaves nothing behind, so its retry runs again.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable

from aiohttp import web

from engine.db.internal import ensure_tables
from engine.features.idempotency.store import (
    MODEL,
    IdempotencyStore,
    claim_id,
    commit_response,
    fingerprint,
    mark_committed,
)
from engine.features.openapi.contrib import add_parameter, add_response_header, header_parameter, resource_operations
from engine.http.bulk import is_keyed
from engine.http.handlers import created_response, write_shared
from engine.http.keys import IDENTITY, MANAGERS, POOL
from engine.http.middleware import after_authentication, for_routes
from engine.http.routes import resource_action
from engine.kernel import settings
from engine.kernel.config import Config
from engine.kernel.errors import BadRequest, Conflict, Problem
from engine.kernel.hooks import hookimpl
from engine.kernel.tasks import cancel_task
from engine.resources.context import WriteContext
from engine.spec import Resource, Spec

log = logging.getLogger("engine.idempotency")
HEADER = "Idempotency-Key"
PURGE_EVERY = 3600.0
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyKeyReused(Problem):
    status = 422
    title = "Unprocessable Content"
    slug = "idempotency-key-reused"


STORE = web.AppKey("idempotency_store", IdempotencyStore)
SETTINGS = web.AppKey("idempotency_settings", dict)
PURGER = web.AppKey("idempotency_purger", asyncio.Task)
CLAIM = "idempotency.claim"  # WriteContext.shared: [claim, stored?, resource] of a keyed request


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    ttl = config.value("ENGINE_IDEMPOTENCY_TTL") or settings.default("ENGINE_IDEMPOTENCY_TTL")  # off: the default
    deadline = config.value("ENGINE_REQUEST_TIMEOUT") or settings.default("ENGINE_REQUEST_TIMEOUT")
    # A claim older than this lost its request (a crash): a retry may run it. Never while it could still run.
    app[SETTINGS] = {"ttl": ttl, "stale_after": max(60.0, 2 * deadline)}


async def _purge_forever(store: IdempotencyStore) -> None:
    while True:
        try:
            await store.purge()
        except Exception as exc:  # the database may be briefly away; try again next round
            log.warning("purging expired idempotency keys failed: %r", exc)
        await asyncio.sleep(PURGE_EVERY)


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    await ensure_tables(app[POOL], MODEL)
    store = app[STORE] = IdempotencyStore(app[POOL], **app[SETTINGS])
    app[PURGER] = asyncio.get_running_loop().create_task(_purge_forever(store))


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    await cancel_task(app.get(PURGER))


@hookimpl(trylast=True)
def write_needs_transaction(context: WriteContext) -> bool:
    """A keyed request stores its response in the write's transaction; other writes need none."""
    claim = context.shared.get(CLAIM)
    return claim is not None and not claim[1]


@hookimpl(trylast=True)
def after_write(context: WriteContext, resource: Resource, action: str, record: dict) -> Awaitable[None] | None:
    """The keyed request's response, stored by its first write; None at once for every other
    write (each row of a bulk write gets no coroutine to await)."""
    claim = context.shared.get(CLAIM)
    if claim is None or claim[1]:
        return None
    claim[1] = True
    return _store_response(context, resource, action, record, claim)


async def _store_response(context: WriteContext, resource: Resource, action: str, record: dict, claim: list) -> None:
    conn = context.conn
    if action == "create" and resource.name == claim[2]:
        shown = await claim[3].shown(record, context.identity, conn)  # the replay is the response: field rules apply
        await commit_response(conn, claim[0], created_response(resource, shown))
    else:
        await mark_committed(conn, claim[0])


def _scope(request: web.Request) -> str:
    identity = request.get(IDENTITY)
    return "anonymous" if identity is None else f"user:{identity.user_id}"


def _check_key(value: str) -> str:
    if not _KEY.match(value):
        raise BadRequest(f"{HEADER} must be 1 to 255 visible ASCII characters (a UUID is a good choice)")
    return value


async def _release_quietly(store: IdempotencyStore, claim: str) -> None:
    """After a failure: free the key, without hiding the failure if the database is away too
    (the claim then turns stale and a later retry takes it over)."""
    try:
        await asyncio.shield(store.release(claim))
    except Exception as exc:
        log.warning("could not release idempotency key claim: %r", exc)


async def _run_once(
    request: web.Request, handler, store: IdempotencyStore, claim: str, resource: str | None
) -> web.StreamResponse:
    """Run the keyed request; `resource` names a single create's resource (its 201 is kept inside
    the write's transaction), None for other writes (their response is kept once it is sent)."""
    shared = write_shared(request)
    shared[CLAIM] = [claim, False, resource, request.app[MANAGERS].get(resource)]
    try:
        response = await handler(request)
    except BaseException:
        await _release_quietly(store, claim)
        raise
    finally:
        del shared[CLAIM]
    if 200 <= response.status < 300 and isinstance(response, web.Response) and isinstance(response.body, bytes):
        await store.complete(claim, response)
    else:
        await store.release(claim)
    return response


SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))  # RFC 9110 safe methods: nothing to replay


@after_authentication
@for_routes(lambda route: route.method not in SAFE_METHODS)
@web.middleware
async def idempotency_key(request: web.Request, handler) -> web.StreamResponse:
    key = request.headers.get(HEADER)
    store = request.app.get(STORE)
    if key is None or store is None:
        return await handler(request)
    route = resource_action(request)
    single = route is not None and route[1] == "create" and request.method == "POST"
    if not single and not is_keyed(request):
        return await handler(request)
    claim = claim_id(_scope(request), _check_key(key))
    raw = await request.read()
    if single and not request.query_string and not raw.lstrip().startswith(b"["):
        body_print, resource = fingerprint(request.path, raw), route[0].name
    else:  # bulk writes, upserts and batches: the method and query string are part of the request
        body_print, resource = fingerprint(f"{request.method} {request.path_qs}", raw), None
    earlier = await store.claim(claim, body_print)
    if earlier is None:
        return await _run_once(request, handler, store, claim, resource)
    if earlier.fingerprint != body_print:
        raise IdempotencyKeyReused(
            f"this {HEADER} was already used with a different request; use a new key for a new request"
        )
    if earlier.status is None:
        detail = (
            "the first request with this key committed, but its response was lost; read the created row instead"
            if earlier.committed
            else f"a request with this {HEADER} is still running; retry shortly"
        )
        raise Conflict(detail, headers={"Retry-After": "1"})
    return earlier.response()


@hookimpl(trylast=True)
def register_middlewares(app, spec):
    return [idempotency_key]


KEYED_OPERATIONS = ("update_many_", "delete_many_", "put_", "batch")  # operationIds of engine.http.bulk's routes


@hookimpl(trylast=True)
def register_openapi(document: dict, spec: Spec) -> None:
    description = "A unique key (a UUID): a retry with the same key and body gets the first response."
    for action, operation in resource_operations(document, spec):
        if action == "create":
            add_parameter(operation, header_parameter(HEADER, description))
            add_response_header(
                operation, "201", "Idempotent-Replayed", "true when this is the first response, replayed."
            )
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and str(operation.get("operationId", "")).startswith(KEYED_OPERATIONS):
                add_parameter(operation, header_parameter(HEADER, description))
