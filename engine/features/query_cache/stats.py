"""The query cache's counters: plain integers on the app, published to Prometheus by the metrics feature."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from aiohttp import web
from prometheus_client import Counter

from engine.kernel.metrics import count_stats


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


CACHE_STATS = web.AppKey("query_cache_stats", CacheStats)
CACHE_HITS = Counter("engine_cache_hits_total", "Reads answered from the query cache.")
CACHE_MISSES = Counter("engine_cache_misses_total", "Reads the query cache could not answer.")
CACHE_BYPASSED = Counter(
    "engine_cache_bypassed_total", "Reads that skipped the cache because it could not vouch for freshness."
)
count_stats(CACHE_STATS, {"hits": CACHE_HITS, "misses": CACHE_MISSES, "bypassed": CACHE_BYPASSED})
