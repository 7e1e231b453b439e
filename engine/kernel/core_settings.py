"""The core's settings (database, process, logs, workers, HTTP parsing limits, Redis, the command line).

Declarations only, read through engine.kernel.settings; each feature declares its own in its package.
"""

from __future__ import annotations

from engine.kernel.settings import Setting, boolean, choice, integer, seconds, text, url

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "WARN", "FATAL", "NOTSET")

SETTINGS = (
    Setting(
        "DATABASE_URL",
        url("postgresql", "postgres"),
        None,
        "PostgreSQL URL. Unset: an embedded PostgreSQL (pgserver) in `ENGINE_DATA_DIR`, with pending "
        "migrations applied at start-up (development only)",
        "server",
    ),
    Setting(
        "ENGINE_ENV",
        choice("development", "production"),
        "development",
        "`production` hides tracebacks in errors, logs JSON, makes the session cookie `Secure` and "
        "requires real secrets",
        "server",
    ),
    Setting(
        "ENGINE_SPEC",
        text(),
        "resources.yaml",
        "the spec file (`--spec`); gunicorn workers read it from here",
        "server",
    ),
    Setting("ENGINE_HOST", text(), "127.0.0.1", "interface `serve` listens on (`--host`)", "server"),
    Setting("ENGINE_PORT", integer(minimum=0), 8000, "port `serve` listens on (`--port`)", "server"),
    Setting(
        "ENGINE_AUTO_MIGRATE",
        boolean(),
        None,
        "apply pending migrations at start-up",
        "server",
        shown="on for the embedded database only",
    ),
    Setting(
        "ENGINE_DATA_DIR",
        text(),
        None,
        "where the embedded PostgreSQL keeps its data",
        "server",
        shown="`.pgdata` beside resources.yaml",
    ),
    Setting("ENGINE_DB_SCHEMA", text(), None, "PostgreSQL schema (`search_path`) for every connection", "server"),
    Setting(
        "ENGINE_POOL_SIZE", integer(), 10, "connections in each worker's pool", "server", yaml="settings.pool_max_size"
    ),
    Setting(
        "ENGINE_POOL_MIN_SIZE",
        integer(),
        1,
        "connections each pool keeps open when idle",
        "server",
        yaml="settings.pool_min_size",
    ),
    Setting(
        "ENGINE_STATEMENT_TIMEOUT_MS",
        integer(),
        30_000,
        "PostgreSQL `statement_timeout` of the pool's connections, capped at the request deadline",
        "server",
        yaml="settings.statement_timeout_ms",
    ),
    Setting(
        "ENGINE_DB_PLAN_CACHE_MODE",
        choice("force_generic_plan", "auto", "force_custom_plan"),
        "force_generic_plan",
        "PostgreSQL `plan_cache_mode` of the pool's connections: one plan per statement shape, made once "
        "(`auto` lets PostgreSQL plan an access-rule query anew on every execution; docs/deployment.md)",
        "server",
    ),
    Setting(
        "ENGINE_DB_STATEMENT_LIFETIME",
        seconds(),
        30.0,
        "how long a connection keeps a prepared statement, and its plan, before preparing it again "
        "(a plan made while a table was empty or small then follows its growth; `off`: for good)",
        "server",
    ),
    Setting(
        "ENGINE_DB_COALESCE_READS",
        boolean(),
        True,
        "concurrent reads of one statement shape (reads by id, lists, includes) answered by one statement "
        "for all their callers, each getting its own rows (docs/deployment.md); `false`: one statement per read",
        "server",
    ),
    Setting(
        "ENGINE_DB_APPLICATION_NAME",
        text(strip=True),
        "resource-engine",
        "the `application_name` of the pool's connections (and the replicas'), as `pg_stat_activity` "
        "shows them: tells one deployment's sessions from another's on a shared server",
        "server",
    ),
    Setting(
        "ENGINE_DB_COMBINE_WRITES",
        boolean(),
        True,
        "concurrent single-statement writes of one shape (creates, updates) committed by one transaction, "
        "each still its own statement with its own answer and errors (docs/deployment.md); `false`: one "
        "commit per write",
        "server",
    ),
    Setting(
        "ENGINE_BODY_LIMIT",
        integer(),
        1024 * 1024,
        "largest request body in bytes; larger: 413",
        "server",
        yaml="settings.body_limit",
    ),
    Setting(
        "REDIS_URL",
        url("redis", "rediss", "unix"),
        None,
        "Redis for sessions, rate limits and the query cache, shared by every worker and host; unset: in-process",
        "server",
    ),
    Setting(
        "ENGINE_LOG_LEVEL",
        choice(*LOG_LEVELS, case=str.upper),
        "INFO",
        "`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`",
        "logs",
    ),
    Setting(
        "ENGINE_LOG_FORMAT",
        choice("json", "text", case=str.lower),
        None,
        "log line format (one line per request)",
        "logs",
        shown="`json` in production, `text` otherwise",
    ),
    Setting(
        "ENGINE_LOG_FILE",
        text(),
        None,
        "log to this file instead of stderr (`serve --log-file`)",
        "logs",
        shown="unset: stderr",
    ),
    Setting(
        "ENGINE_LOG_MAX_BYTES", integer(minimum=0), 10 * 1024 * 1024, "rotate the log file at this size (bytes)", "logs"
    ),
    Setting("ENGINE_LOG_BACKUPS", integer(minimum=0), 5, "rotated log files kept (`engine.log.1` … `.5`)", "logs"),
    Setting(
        "ENGINE_WORKERS",
        integer(),
        None,
        "worker processes under gunicorn (`serve --workers N`)",
        "workers",
        shown="unset: one process, no gunicorn (2 under gunicorn_settings alone)",
    ),
    Setting(
        "ENGINE_GRACEFUL_TIMEOUT",
        integer(),
        30,
        "seconds in-flight requests get to finish on SIGTERM or reload (`--graceful-timeout`)",
        "workers",
    ),
    Setting(
        "ENGINE_MAX_REQUESTS",
        integer(),
        10_000,
        "recycle a worker after about this many requests; `0` never (`--max-requests`)",
        "workers",
    ),
    Setting(
        "ENGINE_MAX_REQUESTS_JITTER",
        integer(),
        1_000,
        "up to this many extra requests per worker, at random (`--max-requests-jitter`)",
        "workers",
    ),
    Setting(
        "PROMETHEUS_MULTIPROC_DIR",
        text(),
        None,
        "where workers write metric files; emptied at start",
        "workers",
        shown="a temporary directory (with workers)",
    ),
    Setting(
        "ENGINE_MAX_LINE_SIZE",
        integer(minimum=256),
        8190,
        "longest request line in bytes (method, path and query); longer: 400 from the HTTP parser",
        "protection",
    ),
    Setting(
        "ENGINE_MAX_HEADER_SIZE",
        integer(minimum=256),
        8190,
        "longest header field in bytes; longer: 400 from the HTTP parser",
        "protection",
    ),
    Setting(
        "ENGINE_MAX_HEADERS",
        integer(minimum=8),
        128,
        "most header fields in a request; more: 400 from the HTTP parser",
        "protection",
    ),
    Setting(
        "ENGINE_REDIS_PREFIX",
        text(strip=True),
        "resource-engine",
        "prefix of every Redis key, to share one Redis between deployments",
        "protection",
    ),
    Setting(
        "ENGINE_REDIS_TIMEOUT",
        seconds(),
        0.5,
        "connect and command timeout towards Redis in seconds (`off` for none); a dead Redis costs at most this",
        "protection",
    ),
    Setting(
        "ENGINE_REDIS_BREAKER_FAILURES",
        integer(minimum=1),
        5,
        "consecutive Redis failures that open the circuit breaker (Redis-backed features then answer at once "
        "in their degraded mode)",
        "protection",
    ),
    Setting(
        "ENGINE_REDIS_BREAKER_BACKOFF",
        seconds(),
        1.0,
        "seconds before the open breaker probes Redis again; doubles after each failed probe",
        "protection",
    ),
    Setting(
        "ENGINE_REDIS_BREAKER_MAX_BACKOFF", seconds(), 30.0, "longest wait between probes of a down Redis", "protection"
    ),
    Setting("NO_COLOR", text(), None, "any value: the command line prints no color", "cli"),
    Setting("FORCE_COLOR", text(), None, "any value: color even when not on a terminal (unless `NO_COLOR`)", "cli"),
)
