"""gunicorn settings for running the engine as a cluster of worker processes.

``resource-engine serve --workers N`` runs ``gunicorn -c python:engine.server.gunicorn_settings`` with
its command-line options on top. An operator's own gunicorn.conf.py starts with
``from engine.server.gunicorn_settings import *`` and overrides what it needs (see the one at the top
of the repository). Every name below is a gunicorn setting or server hook.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import shutil
import tempfile

from engine.kernel.settings import value

__all__ = [
    "accesslog",
    "bind",
    "child_exit",
    "control_socket_disable",
    "graceful_timeout",
    "keepalive",
    "logger_class",
    "max_requests",
    "max_requests_jitter",
    "on_exit",
    "on_starting",
    "proc_name",
    "timeout",
    "worker_abort",
    "worker_class",
    "workers",
    "wsgi_app",
]

wsgi_app = "engine.server.entry:app"  # an async factory: each worker builds its own app and pool
# aiohttp's worker, but a recycle drains its connections instead of resetting them (engine/server/worker.py).
worker_class = (
    "engine.server.worker.DrainingUVLoopWorker"
    if importlib.util.find_spec("uvloop")
    else "engine.server.worker.DrainingWorker"
)
bind = [f"{value('ENGINE_HOST')}:{value('ENGINE_PORT')}"]
workers = value("ENGINE_WORKERS") or 2  # run alone (without `serve --workers N`): two workers
proc_name = "resource-engine"

# SIGTERM: stop accepting, let in-flight requests finish for up to this many seconds, then cancel them.
graceful_timeout = value("ENGINE_GRACEFUL_TIMEOUT")
# A worker that stops heartbeating this long is killed and replaced (aiohttp workers beat every second).
timeout = 30
# Recycle each worker after about this many requests; the jitter keeps workers from restarting together.
# A recycled worker drains its connections before it exits (worker.py): clients never see a reset.
max_requests = value("ENGINE_MAX_REQUESTS")
max_requests_jitter = value("ENGINE_MAX_REQUESTS_JITTER")
# Idle keep-alive connections live this long: keep it above your load balancer's idle timeout.
keepalive = 75

# The engine writes its own request lines (engine.access); gunicorn's go through the same handler.
accesslog = None
logger_class = "engine.server.gunicorn_logger.GunicornLogger"

# Several gunicorn instances on one host would share the default control socket path: off unless wanted.
control_socket_disable = True


_owned_metrics_dir: str | None = None


def prepare_metrics_dir() -> str:
    """Point PROMETHEUS_MULTIPROC_DIR at a directory for the workers' metric files (a new one if unset).

    Runs when this module is imported, in the master, before any worker imports prometheus-client:
    the variable decides, at import, whether prometheus-client writes values to files.
    """
    global _owned_metrics_dir
    directory = value("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = _owned_metrics_dir = tempfile.mkdtemp(prefix="resource-engine-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # for the workers: prometheus-client reads it
    os.makedirs(directory, exist_ok=True)
    return directory


prepare_metrics_dir()


def on_starting(server) -> None:
    """Start from empty metric files: values left by a previous run would be added to this one's."""
    directory = prepare_metrics_dir()
    for path in glob.glob(os.path.join(directory, "*.db")):
        os.remove(path)
    logging.getLogger("engine.ops").info(
        "starting %d workers", server.cfg.workers, extra={"event": "cluster_start", "metrics_dir": directory}
    )


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges (pool connections) so the sums count live workers only."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_abort(worker) -> None:
    logging.getLogger("engine.ops").error(
        "worker %s timed out and was aborted", worker.pid, extra={"event": "worker_abort"}
    )


def on_exit(server) -> None:
    """Remove the metrics directory this process created (an operator's own directory is kept)."""
    if _owned_metrics_dir:
        shutil.rmtree(_owned_metrics_dir, ignore_errors=True)
