"""gunicorn settings for running resource-engine in production, commented for operators.

Two ways to use this file:

    resource-engine serve --workers 4 --gunicorn-config gunicorn.conf.py
    gunicorn -c gunicorn.conf.py            # ENGINE_SPEC names resources.yaml (default: ./resources.yaml)

Without --gunicorn-config, `resource-engine serve --workers N` runs with the same defaults
(engine/server/gunicorn_settings.py), so you only need this file to change something below.
Command-line options win over this file; this file wins over the defaults it imports.
Signals to the master: TERM drains and stops, HUP reloads workers (new code and spec),
TTIN/TTOU add or remove a worker, USR1 reopens log files.
"""

import multiprocessing

# ENGINE_* variables, parsed as everywhere in the engine (engine/kernel/settings.py): a bad value stops here.
from engine.kernel.settings import value

# The defaults and the server hooks the engine needs: a fresh PROMETHEUS_MULTIPROC_DIR at start,
# a dead worker's live gauges removed (child_exit), the directory removed on exit. Keep this line;
# if you define one of these hooks yourself, call the imported one from yours.
from engine.server.gunicorn_settings import *  # noqa: F403

# --- where and how many ----------------------------------------------------------------------------
# The engine's app factory: each worker loads the spec and opens its own database pool.
wsgi_app = "engine.server.entry:app"
# 0.0.0.0 inside a container; behind a reverse proxy on the same host keep 127.0.0.1 or use a unix socket
# ("unix:/run/resource-engine/engine.sock").
bind = [f"{value('ENGINE_HOST')}:{value('ENGINE_PORT')}"]
# One asyncio worker per core is usually right: each handles thousands of concurrent requests.
# Every worker has its own pool of ENGINE_POOL_SIZE connections: workers x pool size x hosts must
# stay under PostgreSQL's max_connections (see docs/deployment.md).
workers = value("ENGINE_WORKERS") or multiprocessing.cpu_count()
# aiohttp's worker, on uvloop when it is installed (a dependency on Linux and macOS), with a recycle
# that drains connections instead of resetting them. aiohttp's own "aiohttp.GunicornUVLoopWebWorker"
# also works, but its recycle resets the connections clients are about to reuse.
# worker_class = "engine.server.worker.DrainingUVLoopWorker"

# --- stopping, restarting, recycling -------------------------------------------------------------
# SIGTERM: stop accepting, let in-flight requests finish for this many seconds, then cancel them.
# Event streams end at once with a retry hint and the clients reconnect to another worker.
# Keep your orchestrator's stop timeout above it (systemd TimeoutStopSec, compose stop_grace_period).
graceful_timeout = value("ENGINE_GRACEFUL_TIMEOUT")
# A worker that does not heartbeat for this many seconds is killed and replaced
# (a blocked event loop; a crashed worker is replaced at once regardless).
timeout = 30
# Replace each worker after about max_requests requests (plus 0..jitter, so they do not all restart
# together): bounds the damage of a slow memory leak in a plugin. 0 turns recycling off. A recycled
# worker stops accepting and finishes its connections (each answers once more, with Connection: close;
# idle ones end at the keepalive timeout below) before its replacement starts: run two workers or more.
max_requests = value("ENGINE_MAX_REQUESTS")
max_requests_jitter = value("ENGINE_MAX_REQUESTS_JITTER")
# Idle keep-alive connections are kept this long; keep it above the load balancer's idle timeout
# (AWS ALB: 60 s) so the balancer never sends a request on a connection the worker is closing.
keepalive = 75

# --- logs --------------------------------------------------------------------------------------------
# The engine logs one structured line per request itself (engine.access); gunicorn's own messages go
# through the same handler, so everything is JSON in production (ENGINE_LOG_FORMAT, ENGINE_LOG_LEVEL,
# ENGINE_LOG_FILE). Leave accesslog off, or every request is logged twice.
accesslog = None
logger_class = "engine.server.gunicorn_logger.GunicornLogger"

# --- metrics -----------------------------------------------------------------------------------------
# Workers write their metrics to files in PROMETHEUS_MULTIPROC_DIR and /metrics adds them up. Unset,
# a temporary directory is created and removed on exit; set it to a tmpfs path of your own
# (/run/resource-engine/metrics) and it is emptied at start instead.
