"""Counters the protection plugins keep per app, for /metrics and tests: plain integers, no locks
(one event loop per worker)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from aiohttp import web


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    bypassed: int = 0  # not looked up: the cache could not vouch for freshness (Redis or listener down)
    stores: int = 0
    invalidations: int = 0  # groups bumped after writes
    errors: int = 0  # store or generation operations that failed

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class RateLimitStats:
    allowed: int = 0
    limited: int = 0  # answered 429
    backend_errors: int = 0  # the store (Redis) failed; the request passed or got 503 by ENGINE_RATE_LIMIT_FAIL

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


CACHE_STATS = web.AppKey("query_cache_stats", CacheStats)
RATE_LIMIT_STATS = web.AppKey("rate_limit_stats", RateLimitStats)
