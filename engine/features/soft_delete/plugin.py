"""Built-in soft delete: a resource declaring `soft_delete:` marks rows deleted instead of removing them.

Deleted rows vanish from every read through the access predicates (rows.py); callers who may
update them list them with `?deleted=only` and bring one back with POST .../{id}/restore (api.py);
rows deleted longer ago than `purge_after` are removed for good in the background and by
`resource-engine soft-delete purge` (commands.py). docs/resources.md (`soft_delete`) is the guide.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from engine.features.soft_delete import commands as purge_commands
from engine.features.soft_delete.api import RestoreRoute, deleted_rows
from engine.features.soft_delete.openapi import soft_delete_paths
from engine.features.soft_delete.rows import Rows, alive
from engine.http.keys import POOL, SPEC
from engine.kernel.config import Config
from engine.kernel.hooks import hookimpl, pure
from engine.kernel.identity import Identity
from engine.kernel.tasks import cancel_task
from engine.spec import Resource, Spec
from engine.sql.queries import Predicate

log = logging.getLogger("engine.soft_delete")
PURGER = web.AppKey("soft_delete_purger", asyncio.Task)
INTERVAL = web.AppKey("soft_delete_purge_interval", float)


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    interval = config.value("ENGINE_SOFT_DELETE_PURGE_INTERVAL")
    if any(r.soft_delete is not None and r.soft_delete.purge_after for r in spec.resources.values()):
        app[INTERVAL] = interval or 0.0


@hookimpl(trylast=True)
@pure
def access_predicates(resource: Resource, action: str, identity: Identity | None) -> Predicate | None:
    """Deleted rows are absent for every action, admins included (they list them with ?deleted=only)."""
    return alive(resource) if resource.soft_delete is not None else None


async def _purge_forever(app: web.Application, spec: Spec, every: float) -> None:
    purgers = [Rows(r) for r in spec.resources.values() if r.soft_delete is not None and r.soft_delete.purge_after]
    while True:
        await asyncio.sleep(every)
        for rows in purgers:
            try:
                async with app[POOL].acquire() as conn:
                    removed = await rows.purge(conn)
                if removed:
                    log.info("purged %d deleted row(s) of %s", removed, rows.resource.name)
            except Exception as exc:  # the database may be briefly away, or a reference restricts: next round
                log.warning("purging the deleted rows of %s failed: %r", rows.resource.name, exc)


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    every = app.get(INTERVAL)
    if every:
        app[PURGER] = asyncio.get_running_loop().create_task(_purge_forever(app, app[SPEC], every))


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    await cancel_task(app.get(PURGER))


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    routes: list[web.RouteDef] = []
    for resource in spec.resources.values():
        if resource.soft_delete is not None:
            routes += RestoreRoute(resource).routes()
    return routes


@hookimpl(trylast=True)
def register_middlewares(app: web.Application, spec: Spec) -> list:
    return [deleted_rows] if any(r.soft_delete is not None for r in spec.resources.values()) else []


@hookimpl
def register_commands(commands) -> None:
    purge_commands.register(commands)


@hookimpl(trylast=True)
def register_openapi(document: dict, spec: Spec) -> None:
    soft_delete_paths(document, spec)
