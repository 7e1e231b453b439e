"""The engine's Prometheus metrics: one place that declares every series, for every plugin to import.

Plugins count their own events with these objects, or declare a series of their own here (or in
their module) with the ``engine_`` prefix and low-cardinality labels: route templates, resource
names, never raw paths, user ids or request ids::

    from prometheus_client import Counter

    WEBHOOKS_SENT = Counter("engine_webhooks_sent_total", "Webhooks delivered.", ["resource"])
    WEBHOOKS_SENT.labels(resource="agents").inc()

Plugins that already keep plain per-app counters (the query cache and the rate limiter keep
``engine.features.protection_stats``) need not change: the metrics plugin copies their increments into the
CACHE_* and RATE_LIMIT_* counters below (engine/features/metrics/bridge.py).

Several worker processes: ``resource-engine serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR``
before any worker imports this module, so every process writes its values to files there and
``GET /metrics`` adds them up (prometheus-client's multiprocess mode). Gauges therefore declare
how workers combine: ``livesum`` adds the live workers' values, ``mostrecent`` keeps the last one set.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.registry import Collector

from engine.kernel import settings

if settings.value("PROMETHEUS_MULTIPROC_DIR"):  # every process writes its values there: make sure it exists
    os.makedirs(settings.value("PROMETHEUS_MULTIPROC_DIR"), exist_ok=True)

# Latency buckets from 2.5 ms to 10 s: an API request should land in the first half.
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "engine_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "engine_http_request_duration_seconds",
    "Time from the request reaching the engine to its response being ready.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)

DB_POOL_SIZE = Gauge(
    "engine_db_pool_connections", "Open connections in the pools of live workers.", multiprocess_mode="livesum"
)
DB_POOL_IN_USE = Gauge(
    "engine_db_pool_connections_in_use", "Connections checked out by requests right now.", multiprocess_mode="livesum"
)
DB_POOL_MAX = Gauge(
    "engine_db_pool_connections_max", "The sum of the live workers' pool size limits.", multiprocess_mode="livesum"
)
DB_POOL_WAIT = Histogram(
    "engine_db_pool_wait_seconds",
    "How long a request waited for a free database connection.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)

EVENTS_OUTBOX_PENDING = Gauge(
    "engine_events_outbox_pending", "Events written but not yet dispatched.", multiprocess_mode="mostrecent"
)
EVENTS_OUTBOX_LAG = Gauge(
    "engine_events_outbox_lag_seconds",
    "Age of the oldest event not yet dispatched (0 when the outbox is empty).",
    multiprocess_mode="mostrecent",
)

# Filled from the protection plugins' per-app stats (engine.features.protection_stats) by the metrics plugin;
# see engine/features/metrics/bridge.py. Do not also increment them from those plugins.
CACHE_HITS = Counter("engine_cache_hits_total", "Reads answered from the query cache.")
CACHE_MISSES = Counter("engine_cache_misses_total", "Reads the query cache could not answer.")
CACHE_BYPASSED = Counter(
    "engine_cache_bypassed_total", "Reads that skipped the cache because it could not vouch for freshness."
)
RATE_LIMIT_REJECTIONS = Counter("engine_rate_limit_rejections_total", "Requests refused with 429 by the rate limiter.")
RATE_LIMIT_BACKEND_ERRORS = Counter(
    "engine_rate_limit_backend_errors_total", "Rate-limit checks that failed because the store (Redis) failed."
)

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
