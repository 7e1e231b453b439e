"""The database layer's series: the pool (its size, what is in use, how long requests wait for a
connection) and the Redis circuit breaker's state."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

import engine.kernel.metrics  # noqa: F401  (prepares the multiprocess directory before any series exists)

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
REDIS_BREAKER_STATE = Gauge(
    "engine_redis_breaker_state",
    "The Redis circuit breaker of the worst worker: 0 closed, 1 half-open (probing), 2 open (failing at once).",
    multiprocess_mode="max",
)
