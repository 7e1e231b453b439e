"""The query-result cache: stores, data generations, and keys that make stale entries unreachable.

A key holds the resource, the normalized request (path and sorted query), the caller's access
scope (the SQL access predicates with their values, and the roles) and the current *generation*
of the resource's invalidation group. A write to any resource of the group moves the group to a
new generation, so every older entry becomes unreachable at once and simply expires; nothing
has to be found and deleted. The generation is read before the database is, so a result computed
while a write commits is stored under the old generation and never served.

Groups are the connected parts of the spec's graph of references and relations: a write to a
team member changes what a team's list (its access rules, its embedded members) shows.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

import orjson
from aiohttp import web
from cachetools import TLRUCache

from engine.db.redis import redis_down
from engine.features.query_cache.stats import CacheStats
from engine.kernel.identity import Identity
from engine.spec import Resource, Spec
from engine.sql.queries import Predicate

KEPT_HEADERS = ("Content-Type", "ETag", "Link", "Vary", "Preference-Applied")


def invalidation_groups(spec: Spec) -> dict[str, str]:
    """resource -> the name of its group (the alphabetically first resource of its connected part)."""
    parent = {name: name for name in spec.resources}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def join(a: str, b: str) -> None:
        if a in parent and b in parent:
            first, second = sorted((root(a), root(b)))
            parent[second] = first

    for resource in spec.resources.values():
        for reference in resource.references.values():
            join(resource.name, reference.resource)
        for relation in resource.relations.values():
            join(resource.name, relation.through)
            join(resource.name, relation.target)
    return {name: root(name) for name in spec.resources}


# --- stores: bytes under a key, for `ttl` seconds ------------------------------------------------


class MemoryStore:
    """An LRU bounded by bytes, each entry expiring after its own TTL."""

    def __init__(self, max_bytes: int):
        self._entries: TLRUCache[str, tuple[int, bytes]] = TLRUCache(
            maxsize=max_bytes, ttu=lambda key, value, now: now + value[0], getsizeof=lambda value: len(value[1])
        )

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    async def put(self, key: str, body: bytes, ttl: int) -> None:
        try:
            self._entries[key] = (ttl, body)
        except ValueError:  # larger than the whole cache
            pass

    def __len__(self) -> int:
        return len(self._entries)


class RedisStore:
    def __init__(self, client: Any, prefix: str):
        self._client = client
        self._prefix = f"{prefix}:qc:"

    async def get(self, key: str) -> bytes | None:
        return await self._client.get(self._prefix + key)

    async def put(self, key: str, body: bytes, ttl: int) -> None:
        await self._client.set(self._prefix + key, body, ex=ttl)


# --- generations: the current version of each group's data --------------------------------------


class Generations(Protocol):
    """The current version of each group's data. ``bump`` moves groups to a new one; with ``write``
    (the token a write's notice carries) it does so once per write and group, whoever asks first:
    the writer after its commit or a listener on the write's notice. A second move for the same
    write would orphan entries filled after the first, with nothing changed in between."""

    async def current(self, group: str) -> str | None: ...  # None: unknown, do not use the cache

    async def bump(self, groups: Iterable[str], write: str | None = None) -> None: ...


SEEN_WRITES = 10_000  # per worker: (group, write) pairs already applied, oldest forgotten first


class MemoryGenerations:
    """Counters in this worker, prefixed with a random epoch so no two workers (or restarts) share keys."""

    def __init__(self) -> None:
        self._epoch = secrets.token_hex(4)
        self._counters: dict[str, int] = {}
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def current(self, group: str) -> str | None:
        return f"{self._epoch}.{self._counters.get(group, 0)}"

    async def bump(self, groups: Iterable[str], write: str | None = None) -> None:
        for group in groups:
            if write is not None:
                if (group, write) in self._seen:
                    continue
                self._seen[group, write] = None
                if len(self._seen) > SEEN_WRITES:
                    self._seen.popitem(last=False)
            self._counters[group] = self._counters.get(group, 0) + 1


# KEYS[1]: the group's generation key; ARGV[1]: a fresh random token used if it has none (first use,
# or Redis lost the key: a new token can never bring back entries stored under an old one).
CURRENT_SCRIPT = """
local token = redis.call('GET', KEYS[1])
if not token then
  token = ARGV[1]
  redis.call('SET', KEYS[1], token)
end
return token
"""

# KEYS[1]: the group's generation key; KEYS[2]: the key that marks this write as applied to it.
# ARGV[1]: the new token; ARGV[2]: how long the mark is kept (seconds).
BUMP_ONCE_SCRIPT = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return 0
"""
SEEN_FOR = 3600  # seconds a write's mark is kept: a notice later than that moves the group again


class RedisGenerations:
    """Random tokens in Redis, shared by every worker. A bump that fails (Redis down) is kept and
    retried before the next lookup; until it succeeds, this worker does not use the cache."""

    def __init__(self, client: Any, prefix: str):
        self._client = client
        self._prefix = f"{prefix}:qcgen:"
        self._current = client.register_script(CURRENT_SCRIPT)
        self._bump_once = client.register_script(BUMP_ONCE_SCRIPT)
        self._pending: set[tuple[str, str | None]] = set()

    async def current(self, group: str) -> str | None:
        if self._pending and not await self._flush():
            return None
        token = await self._current(keys=[self._prefix + group], args=[secrets.token_hex(8)])
        return token.decode() if isinstance(token, bytes) else str(token)

    async def bump(self, groups: Iterable[str], write: str | None = None) -> None:
        self._pending.update((group, write) for group in groups)
        await self._flush()

    async def _flush(self) -> bool:
        pending = sorted(self._pending, key=lambda item: (item[0], item[1] or ""))
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for group, write in pending:
                    key = self._prefix + group
                    if write is None:
                        pipe.set(key, secrets.token_hex(8))
                    else:
                        once = f"{self._prefix}once:{group}:{write}"
                        await self._bump_once(keys=[key, once], args=[secrets.token_hex(8), SEEN_FOR], client=pipe)
                await pipe.execute()
        except redis_down():
            return False
        self._pending.difference_update(pending)
        return True


# --- the cache ------------------------------------------------------------------------------------


@dataclass
class QueryCache:
    spec: Spec
    generations: Generations
    stats: CacheStats
    store: MemoryStore | RedisStore
    ttls: dict[str, int] = field(init=False)
    groups: dict[str, str] = field(init=False)
    watched: frozenset[str] = field(init=False)
    listening: bool = False  # the invalidation listener is connected: writes elsewhere reach us

    def __post_init__(self) -> None:
        self.ttls = {name: int(r.cache["ttl"]) for name, r in self.spec.resources.items() if r.cache}
        self.groups = invalidation_groups(self.spec)
        self.watched = frozenset(self.groups[name] for name in self.ttls)

    @property
    def enabled(self) -> bool:
        return bool(self.ttls)

    def watches(self, resource_name: str) -> bool:
        """Whether a write to this resource can change a cached result."""
        return self.groups.get(resource_name) in self.watched

    async def key(
        self,
        request: web.Request,
        resource: Resource,
        action: str,
        identity: Identity | None,
        predicates: tuple[Predicate, ...],
    ) -> str | None:
        """The entry's key, or None when the cache cannot vouch for freshness right now."""
        if not self.listening:
            return None
        try:
            generation = await self.generations.current(self.groups[resource.name])
        except redis_down():
            self.stats.errors += 1
            return None
        if generation is None:
            return None
        query = sorted(request.query.items(), key=itemgetter(0))
        scope = [[list(p.key), sorted(p.params.items(), key=itemgetter(0))] for p in predicates]
        caller = None if identity is None else [sorted(identity.roles)]
        if identity is not None and "include" in request.query:
            caller.append(identity.user_id)  # embedded rows follow other resources' access rules
        prefer = request.headers.get("Prefer")  # `Prefer: count=exact` changes the body like `count=exact`
        material = orjson.dumps([action, request.path, query, scope, caller, prefer], default=str)
        digest = hashlib.blake2b(material, digest_size=20).hexdigest()
        return f"{resource.name}:{generation}:{digest}"

    async def invalidate(self, resource_names: Iterable[str], write: str | None = None) -> None:
        """Move the groups of these resources to a new generation (once per ``write``, see Generations)."""
        groups = {self.groups[name] for name in resource_names if self.watches(name)}
        if not groups:
            return
        self.stats.invalidations += len(groups)
        try:
            await self.generations.bump(groups, write)
        except redis_down():
            self.stats.errors += 1


# --- entries: a cached response ------------------------------------------------------------------


def cacheable(response: web.StreamResponse) -> bool:
    return (
        response.status == 200
        and isinstance(response, web.Response)
        and isinstance(response.body, bytes)
        and "Set-Cookie" not in response.headers
        and "no-store" not in response.headers.get("Cache-Control", "")
    )


def encode_entry(response: web.Response) -> bytes:
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    return orjson.dumps(headers) + b"\n" + response.body  # type: ignore[operator]


def decode_entry(entry: bytes) -> web.Response:
    head, _, body = entry.partition(b"\n")
    return web.Response(body=body, headers=orjson.loads(head))
