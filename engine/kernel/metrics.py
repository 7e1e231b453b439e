"""Prometheus plumbing shared by every feature: the multiprocess directory, latency buckets, the
exposition, and per-app counters published as Prometheus counters.

Each feature declares its own series beside its code (engine/features/*/stats.py, metrics.py,
engine/db/metrics.py) with the ``engine_`` prefix and low-cardinality labels: route templates,
resource names, never raw paths, user ids or request ids. A plugin does the same::

    from prometheus_client import Counter

    WEBHOOKS_SENT = Counter("engine_webhooks_sent_total", "Webhooks delivered.", ["resource"])
    WEBHOOKS_SENT.labels(resource="agents").inc()

Features that keep plain per-app counters (the query cache, the rate limiter) declare them with
``count_stats``; the metrics feature publishes their increments (see StatCounters).

Several worker processes: ``resource-engine serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR``
before any worker imports this module, so every process writes its values to files there and
``GET /metrics`` adds them up (prometheus-client's multiprocess mode). Gauges therefore declare
how workers combine: ``livesum`` adds the live workers' values, ``mostrecent`` keeps the last one set.
Every module that declares a series imports this one first, so the directory exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.registry import Collector

from engine.kernel import settings

if settings.value("PROMETHEUS_MULTIPROC_DIR"):  # every process writes its values there: make sure it exists
    os.makedirs(settings.value("PROMETHEUS_MULTIPROC_DIR"), exist_ok=True)

# Latency buckets from 2.5 ms to 10 s: an API request should land in the first half.
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    """The directory shared by the workers' metric files, or None in a single process."""
    return settings.value("PROMETHEUS_MULTIPROC_DIR")


def exposition(workers_collector: Collector | None = None) -> bytes:
    """The text format for ``GET /metrics``: this process's registry, or every worker's files added up.

    ``workers_collector`` adds series the files cannot hold (each worker's CPU and memory).
    """
    if multiprocess_dir() is None:
        return _generate_latest(REGISTRY)
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    if workers_collector is not None:
        registry.register(workers_collector)
    return _generate_latest(registry)


@dataclass
class StatCounters:
    """Publishes increments of a feature's plain per-app counters (``app[key].<field>``) to Prometheus.

    Features count in cheap integers on the app (one event loop per worker) and declare here which
    fields become which counters; the metrics feature publishes the increments since its last look,
    so under several workers the totals (kept in files that outlast a worker) never go backwards.
    """

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


STAT_COUNTERS: list[tuple[web.AppKey, dict[str, Counter]]] = []  # declared once per process, at import


def count_stats(key: web.AppKey, counters: dict[str, Counter]) -> None:
    """Declare that ``app[key]``'s fields named in ``counters`` feed those Prometheus counters."""
    STAT_COUNTERS.append((key, counters))


def stat_publishers(declared: Iterable[tuple[web.AppKey, dict[str, Counter]]] = STAT_COUNTERS) -> list[StatCounters]:
    """One publisher per declaration, for one app (each remembers what it published)."""
    return [StatCounters(key, counters) for key, counters in declared]
