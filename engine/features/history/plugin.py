"""Built-in row history: every version of the rows of a resource declaring `history:`.

Each create, update and delete records a version (the row's new state, or the deletion) with its
number, time and actor, in the same statement or transaction as the change (writes.py); the
versions are read and restored through /api/{resource}/{id}/versions (api.py) and pruned by the
declared retention, in the background and by `resource-engine history prune` (commands.py).
docs/resources.md (`history`) is the guide.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from engine.features.history import commands as history_commands
from engine.features.history.api import VersionRoutes
from engine.features.history.openapi import history_paths
from engine.features.history.writes import HistoryWrites
from engine.http.keys import CONFIG, PLUGINS, POOL
from engine.kernel.config import Config
from engine.kernel.hooks import hookimpl
from engine.kernel.tasks import cancel_task
from engine.spec import Spec

log = logging.getLogger("engine.history")
WRITES = "history.writes"
PRUNER = web.AppKey("history_pruner", asyncio.Task)
INTERVAL = web.AppKey("history_prune_interval", float)


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    if not any(r.history is not None for r in spec.resources.values()):
        return
    app[PLUGINS].register(HistoryWrites(spec), name=WRITES)
    interval = config.value("ENGINE_HISTORY_PRUNE_INTERVAL")
    app[INTERVAL] = interval if interval is not None else 0.0


async def _prune_forever(app: web.Application, every: float) -> None:
    writes: HistoryWrites = app[PLUGINS].get_plugin(WRITES)
    while True:
        await asyncio.sleep(every)
        for versions in writes.versions.values():
            try:
                async with app[POOL].acquire() as conn:
                    removed = await versions.prune(conn)
                if removed:
                    log.info("pruned %d version(s) of %s", removed, versions.resource.name)
            except Exception as exc:  # the database may be briefly away; try again next round
                log.warning("pruning the versions of %s failed: %r", versions.resource.name, exc)


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    every = app.get(INTERVAL)
    if every:
        app[PRUNER] = asyncio.get_running_loop().create_task(_prune_forever(app, every))


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    await cancel_task(app.get(PRUNER))


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    writes: HistoryWrites | None = app[PLUGINS].get_plugin(WRITES)
    if writes is None:
        return []
    routes: list[web.RouteDef] = []
    for name, versions in writes.versions.items():
        routes += VersionRoutes(spec.resources[name], versions).routes()
    return routes


@hookimpl
def register_commands(commands) -> None:
    history_commands.register(commands)


@hookimpl(trylast=True)
def register_openapi(document: dict, spec: Spec, app: web.Application) -> None:
    config = app[CONFIG]
    history_paths(document, spec, page_size=config.page_size, max_page_size=config.max_page_size)
