"""The rate limiter's counters: plain integers on the app, published to Prometheus by the metrics feature."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from aiohttp import web
from prometheus_client import Counter

from engine.kernel.metrics import count_stats


@dataclass
class RateLimitStats:
    allowed: int = 0
    limited: int = 0  # answered 429
    backend_errors: int = 0  # the store (Redis) failed; the request passed or got 503 by ENGINE_RATE_LIMIT_FAIL

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


RATE_LIMIT_STATS = web.AppKey("rate_limit_stats", RateLimitStats)
RATE_LIMIT_REJECTIONS = Counter("engine_rate_limit_rejections_total", "Requests refused with 429 by the rate limiter.")
RATE_LIMIT_BACKEND_ERRORS = Counter(
    "engine_rate_limit_backend_errors_total", "Rate-limit checks that failed because the store (Redis) failed."
)
count_stats(RATE_LIMIT_STATS, {"limited": RATE_LIMIT_REJECTIONS, "backend_errors": RATE_LIMIT_BACKEND_ERRORS})
