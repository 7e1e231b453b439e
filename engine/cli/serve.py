"""`resource-engine serve`: one process for development, or a gunicorn cluster with `--workers N`.

With `--workers`, this process becomes the gunicorn master (exec, same pid), so signals sent to it
reach gunicorn directly: SIGTERM drains and stops, SIGHUP reloads the workers with the current
spec and code, SIGTTIN/SIGTTOU add or remove a worker. The master starts from a fresh interpreter
so that PROMETHEUS_MULTIPROC_DIR is set before any worker imports prometheus-client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from engine.cli.output import Printer, spec_or_exit
from engine.cli.reload import ready_notifier, serve_with_reload
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.logs import LogSettings, configure_logging
from engine.kernel.plugins import PluginError
from engine.kernel.settings import explicit, value
from engine.migrations import MigrationError
from engine.server import gc_tuning, memory

# Options that an ENGINE_* variable sets when the command line does not (absent from both: gunicorn's own).
FROM_ENVIRONMENT = {
    "workers": "ENGINE_WORKERS",
    "log_file": "ENGINE_LOG_FILE",
    "graceful_timeout": "ENGINE_GRACEFUL_TIMEOUT",
    "max_requests": "ENGINE_MAX_REQUESTS",
    "max_requests_jitter": "ENGINE_MAX_REQUESTS_JITTER",
}


def add_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="serve the API (one process, or a cluster with --workers N)")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1, or ENGINE_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000, or ENGINE_PORT)")
    serve.add_argument(
        "--workers",
        type=int,
        help="run N worker processes under gunicorn (default: ENGINE_WORKERS; unset: one process, no gunicorn)",
    )
    serve.add_argument(
        "--log-file",
        help="write logs to this file, rotated by size (ENGINE_LOG_MAX_BYTES, ENGINE_LOG_BACKUPS); default stderr",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=int,
        help="seconds in-flight requests get to finish on SIGTERM (default 30, or ENGINE_GRACEFUL_TIMEOUT)",
    )
    serve.add_argument(
        "--max-requests",
        type=int,
        help="recycle a worker after about this many requests (default 10000, or ENGINE_MAX_REQUESTS; 0: never)",
    )
    serve.add_argument(
        "--max-requests-jitter",
        type=int,
        help="random extra requests per worker, so they do not all restart at once (default 1000)",
    )
    serve.add_argument(
        "--gunicorn-config",
        metavar="FILE",
        help="a gunicorn.conf.py of your own instead of the built-in settings (with --workers)",
    )
    serve.add_argument(
        "--reload",
        action="store_true",
        help="restart when resources.yaml, a schema, a plugin or a migration changes (development)",
    )
    serve.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)  # set by --reload for its child
    serve.set_defaults(run=cmd_serve)


def _options_from_environment(args: argparse.Namespace) -> None:
    """Fill the options not given on the command line from their ENGINE_* variables (when set)."""
    for option, variable in FROM_ENVIRONMENT.items():
        if getattr(args, option) is None:
            setattr(args, option, explicit(variable))


def cmd_serve(args: argparse.Namespace, out: Printer) -> int:

    _options_from_environment(args)
    if args.reload:
        return serve_with_reload(args, out)
    spec = spec_or_exit(args, out)
    config = Config.from_env(spec)
    settings = LogSettings.from_env(log_file=args.log_file)
    try:
        app = create_app(spec, config)  # fails here, in the terminal, on a bad plugin or setting
    except PluginError as exc:
        out.error(str(exc))
        return 1
    host = args.host or value("ENGINE_HOST")
    port = args.port or value("ENGINE_PORT")
    if args.workers is not None:
        if args.workers < 1:
            out.error("--workers must be at least 1")
            return 2
        out.info(f"serving {len(spec.resources)} resources on http://{host}:{port}/api/ with {args.workers} workers")
        _exec_gunicorn(args, settings, host, port)
    from aiohttp import web

    configure_logging(settings)
    gc_tuning.install(app)
    memory.install(app)
    out.info(f"serving {len(spec.resources)} resources on http://{host}:{port}/api/ ({config.environment})")
    try:
        web.run_app(
            app,
            loop=new_event_loop(),
            host=host,
            port=port,
            print=ready_notifier(args.ready_fd),
            access_log=None,
            shutdown_timeout=float(args.graceful_timeout or 30),
            reuse_port=args.ready_fd is not None,  # under --reload the next app starts beside this one
        )
    except MigrationError as exc:  # at start-up: an applied file edited, or a migration applied there failed
        out.error(str(exc))
        return 1
    return 0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (a dependency outside Windows), as the gunicorn workers use: the same
    engine in one process or many, on the faster loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def gunicorn_argv(args: argparse.Namespace, host: str, port: int) -> list[str]:
    """The gunicorn command line for these options (settings not given keep gunicorn_settings' values)."""
    argv = [sys.executable, "-m", "gunicorn", "-c", args.gunicorn_config or "python:engine.server.gunicorn_settings"]
    argv += ["--bind", f"{host}:{port}", "--workers", str(args.workers)]
    if args.graceful_timeout is not None:
        argv += ["--graceful-timeout", str(args.graceful_timeout)]
    if args.max_requests is not None:
        argv += ["--max-requests", str(args.max_requests)]
    if args.max_requests_jitter is not None:
        argv += ["--max-requests-jitter", str(args.max_requests_jitter)]
    return [*argv, "engine.server.entry:app"]


def _exec_gunicorn(args: argparse.Namespace, settings: LogSettings, host: str, port: int) -> None:
    """Replace this process with the gunicorn master; the workers read the spec path from ENGINE_SPEC."""
    os.environ["ENGINE_SPEC"] = os.path.abspath(args.spec)
    if settings.file:
        os.environ["ENGINE_LOG_FILE"] = os.path.abspath(settings.file)
    sys.stdout.flush()
    sys.stderr.flush()
    argv = gunicorn_argv(args, host, port)
    os.execv(argv[0], argv)
