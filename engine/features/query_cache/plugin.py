"""Built-in query-result cache: opt-in per resource (`cache: {ttl: 30}`), never stale after a write.

List and read answers of cached resources are kept for `ttl` seconds, keyed by the caller's
access scope and the normalized query (see engine.features.query_cache.store). Every write through the
engine moves its group to a new generation: in this worker right after the commit and before
the response, in other workers through PostgreSQL NOTIFY, and with Redis (REDIS_URL) in the
shared generation that every worker reads, so a read that follows a write never sees old data.

Entries live in an in-process LRU bounded in bytes (ENGINE_CACHE_MAX_BYTES), or in Redis. Any
plugin can supply another store through the `cache_get` / `cache_put` hooks; these built-in
implementations are `trylast`. Counters: app[CACHE_STATS] (stats.py).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable
from typing import Any

import asyncpg
from aiohttp import web

from engine.db.redis import OutageLog, prefix, redis_down, shared_redis
from engine.features.query_cache.listener import InvalidationListener, notify_write
from engine.features.query_cache.stats import CACHE_STATS, CacheStats
from engine.features.query_cache.store import (
    MemoryGenerations,
    MemoryStore,
    QueryCache,
    RedisGenerations,
    RedisStore,
    cacheable,
    decode_entry,
    encode_entry,
)
from engine.http.handlers import authorize, write_shared
from engine.http.keys import CONFIG, DATABASE_URL, IDENTITY, PLUGINS
from engine.http.middleware import after_authentication
from engine.http.routes import resource_action
from engine.kernel.config import Config
from engine.kernel.hooks import call_all, call_first, hookimpl
from engine.resources.context import WriteContext
from engine.spec import Resource, Spec

log = logging.getLogger("engine.query_cache")

QUERY_CACHE = web.AppKey("query_cache", QueryCache)
LISTENER = web.AppKey("query_cache_listener", InvalidationListener)
OUTAGE = web.AppKey("query_cache_outage", OutageLog)


class _Writes:
    """The resources a request wrote, collected by after_write for the post-commit invalidation,
    and the token its notices carry (so the listeners do not move the groups a second time)."""

    __slots__ = ("_token", "cache", "resources")

    def __init__(self, cache: QueryCache | None):
        self.cache = cache
        self.resources: set[str] = set()
        self._token: str | None = None

    @property
    def token(self) -> str:
        """Made at the request's first watched write: a read (most requests) never needs one."""
        if self._token is None:
            self._token = secrets.token_hex(8)
        return self._token


WRITES = "query_cache.writes"  # WriteContext.shared: the cached resources this request's writes touched


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    stats = app[CACHE_STATS] = CacheStats()
    if not any(resource.cache for resource in spec.resources.values()):
        return
    redis = shared_redis(app, config)
    if redis is not None:
        generations, store = RedisGenerations(redis, prefix(config)), RedisStore(redis, prefix(config))
    else:
        generations, store = MemoryGenerations(), MemoryStore(config.value("ENGINE_CACHE_MAX_BYTES"))
    app[QUERY_CACHE] = QueryCache(spec, generations, stats, store)
    app[OUTAGE] = OutageLog(log)


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    cache = app.get(QUERY_CACHE)
    if cache is not None:
        listener = app[LISTENER] = InvalidationListener(app[DATABASE_URL], app[CONFIG].db_schema, cache)
        await listener.start()


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    listener = app.get(LISTENER)
    if listener is not None:
        await listener.stop()


@hookimpl(trylast=True)
def write_needs_transaction() -> bool:
    """Noting which caches a write invalidates needs no transaction: the note follows the commit."""
    return False


@hookimpl(trylast=True)
def after_write(context: WriteContext, resource: Resource) -> Awaitable[None] | None:
    """The notice that tells every worker's cache of this resource to drop what it holds, sent at
    commit: one per write, and one for all the rows of a set-based write (not a round trip per row)."""
    writes = context.shared.get(WRITES)
    if writes is not None:  # inside a request: only for resources a cache watches
        if writes.cache is None or not writes.cache.watches(resource.name):
            return None
        writes.resources.add(resource.name)
        token = writes.token
    elif context.write_set is not None:  # outside a request (a job, a command): one token per set
        token = context.shared.setdefault((NOTICES, context.write_set), secrets.token_hex(8))
    else:  # only the notice can reach caches
        token = secrets.token_hex(8)
    if context.write_set is not None:
        context.write_set.defer(NOTICES, _notify_each, ((resource.name, token),))
        return None
    if context.conn is None:  # a write committed with others holds no connection
        return _notify_on_pool(context.pool, resource.name, token)
    return notify_write(context.conn, resource.name, token)


async def _notify_on_pool(pool: Any, resource_name: str, token: str) -> None:
    async with pool.acquire() as conn:
        await notify_write(conn, resource_name, token)


NOTICES = "query_cache.notices"  # WriteSet key: the (resource, token) pairs a set-based write's rows changed


async def _notify_each(conn: asyncpg.Connection, notices: list[tuple[str, str]]) -> None:
    for name, token in dict.fromkeys(notices):
        await notify_write(conn, name, token)


@hookimpl(trylast=True)
async def cache_get(app: web.Application, resource: Resource, key: str) -> bytes | None:
    cache = app[QUERY_CACHE]
    try:
        entry = await cache.store.get(key)
    except redis_down() as exc:
        cache.stats.errors += 1
        app[OUTAGE].failed("query cache store unavailable, reading from the database", exc)
        return None
    app[OUTAGE].recovered("query cache store reachable again")
    return entry


@hookimpl(trylast=True)
async def cache_put(app: web.Application, resource: Resource, key: str, body: bytes, ttl: int) -> None:
    cache = app[QUERY_CACHE]
    try:
        await cache.store.put(key, body, ttl)
    except redis_down() as exc:
        cache.stats.errors += 1
        app[OUTAGE].failed("query cache store unavailable, reading from the database", exc)
        return
    cache.stats.stores += 1


async def _serve(request: web.Request, handler, cache: QueryCache, resource: Resource, action: str):
    manager = await authorize(request, resource, action)  # a cached answer is only for those allowed
    identity = request[IDENTITY]
    predicates = await manager.predicates(action, identity)
    masks = tuple(predicate for _, predicate in await manager.masks(identity))  # field rules shape the body too
    key = await cache.key(request, resource, action, identity, (*predicates, *masks))
    if key is None:
        cache.stats.bypassed += 1
        return await handler(request)
    hook = request.app[PLUGINS].hook
    entry = await call_first(hook.cache_get, app=request.app, resource=resource, key=key)
    if entry is not None:
        cache.stats.hits += 1
        return decode_entry(entry)
    cache.stats.misses += 1
    response = await handler(request)
    if cacheable(response):
        body = encode_entry(response)
        await call_all(
            hook.cache_put, app=request.app, resource=resource, key=key, body=body, ttl=cache.ttls[resource.name]
        )
    return response


@after_authentication
@web.middleware
async def query_cache(request: web.Request, handler) -> web.StreamResponse:
    cache = request.app.get(QUERY_CACHE)
    route = resource_action(request) if cache is not None and request.method == "GET" else None
    if route is not None and route[0].name in cache.ttls and route[1] in ("list", "read"):
        return await _serve(request, handler, cache, *route)
    writes = _Writes(cache)  # also without a cache: tells after_write it runs inside a request
    shared = write_shared(request)
    shared[WRITES] = writes
    try:
        return await handler(request)
    finally:
        if writes.resources:  # committed (or rolled back: a needless bump is harmless) before we answer
            await cache.invalidate(writes.resources, writes.token)


@hookimpl(trylast=True)
def register_middlewares(app, spec):
    return [query_cache]
