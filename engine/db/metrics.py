"""The database layer's series: the pool (its size, what is in use, how long requests wait for a
connection), reads answered together (engine.db.coalesce), writes committed together
(engine.db.commit_together) and the Redis circuit breaker's state."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
DB_READS = Counter(
    "engine_db_reads_total",
    "Routed reads by where they ran (`replica`, `primary`) and why (`replica`, `caught_up`: the replica, asked on "
    "the read's connection, had replayed the caller's last write since its last check, `behind_token`: no replica "
    "had replayed the caller's last write yet, `no_replica`: none up and in time, `replica_failed`, `replica_busy`: "
    "no free replica connection (or no answer to that question) in time, "
    "`write_or_background`).",
    ["target", "reason"],
)
DB_REPLICA_UP = Gauge(
    "engine_db_replica_up", "1 while the replica answers its checks.", ["replica"], multiprocess_mode="min"
)
DB_REPLICA_LAG_SECONDS = Gauge(
    "engine_db_replica_lag_seconds",
    "How long ago the primary first stood past the replica's replay position.",
    ["replica"],
    multiprocess_mode="max",
)
DB_REPLICA_LAG_BYTES = Gauge(
    "engine_db_replica_lag_bytes",
    "WAL bytes between the primary's position and the replica's replay position.",
    ["replica"],
    multiprocess_mode="max",
)
DB_COMBINED_STATEMENTS = Counter(
    "engine_db_combined_statements_total",
    "Statements that answered several concurrent reads of one shape at once (engine.db.coalesce).",
)
DB_COMBINED_READS = Counter(
    "engine_db_combined_reads_total",
    "Reads answered by a combined statement, counted once per read.",
)
DB_COMBINED_COMMITS = Counter(
    "engine_db_combined_commits_total",
    "Transactions that committed several concurrent writes of one shape together (engine.db.commit_together).",
)
DB_COMBINED_WRITES = Counter(
    "engine_db_combined_writes_total",
    "Writes committed by a shared transaction, counted once per write.",
)
