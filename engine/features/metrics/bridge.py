"""Copies plain per-app counters (dataclasses of ints on the app) into Prometheus counters.

The protection plugins count cache hits and rate-limit rejections in ``app[CACHE_STATS]`` and
``app[RATE_LIMIT_STATS]``: cheap integers, one event loop per worker. Each worker publishes the
increments since its last look to the Prometheus counters, which under several workers live in
files that outlast the worker, so the cluster's totals never go backwards when a worker is replaced.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import Counter

from engine.kernel import metrics

log = logging.getLogger("engine.ops")


@dataclass
class Bridge:
    """Publishes ``stats.<field>`` increments of ``app[key]`` to counters, remembering what it saw."""

    key: web.AppKey
    counters: dict[str, Counter]
    seen: dict[str, int] = field(default_factory=dict)

    def publish(self, app: web.Application) -> None:
        stats = app.get(self.key)
        if stats is None:
            return
        for name, counter in self.counters.items():
            value = getattr(stats, name, 0)
            increment = value - self.seen.get(name, 0)
            if increment > 0:
                counter.inc(increment)
            self.seen[name] = value


def protection_bridges() -> list[Bridge]:
    """The query cache's and the rate limiter's stats, when those plugins are installed."""
    try:
        stats = importlib.import_module("engine.features.protection_stats")
    except ImportError:
        return []
    wanted = {
        "CACHE_STATS": {"hits": metrics.CACHE_HITS, "misses": metrics.CACHE_MISSES, "bypassed": metrics.CACHE_BYPASSED},
        "RATE_LIMIT_STATS": {
            "limited": metrics.RATE_LIMIT_REJECTIONS,
            "backend_errors": metrics.RATE_LIMIT_BACKEND_ERRORS,
        },
    }
    return [Bridge(getattr(stats, key), counters) for key, counters in wanted.items() if hasattr(stats, key)]


def publish_all(app: web.Application, bridges: Iterable[Bridge]) -> None:
    for bridge in bridges:
        bridge.publish(app)
