"""The app factory gunicorn's aiohttp worker calls in each worker process.

``gunicorn engine.server.entry:app --worker-class engine.server.worker.DrainingWorker`` serves the
spec named by ENGINE_SPEC (default ``resources.yaml`` in the working directory) with the ENGINE_*
settings of the environment. ``resource-engine serve --workers N`` runs exactly this.
"""

from __future__ import annotations

from aiohttp import web

from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.logs import LogSettings, configure_logging, is_configured
from engine.kernel.settings import value
from engine.server import gc_tuning, memory
from engine.spec import load_spec


async def app() -> web.Application:
    """Build the application for this worker (each worker opens its own database pool at start-up)."""
    if not is_configured():  # under gunicorn the master configured logging before forking
        configure_logging(LogSettings.from_env())
    spec = load_spec(value("ENGINE_SPEC"))
    application = create_app(spec, Config.from_env(spec))
    gc_tuning.install(application)
    memory.install(application)
    return application
