"""The app factory: spec + config in, a ready aiohttp application out.

Reading this file top to bottom gives the whole request pipeline (see build_middlewares) and the
lifecycle: database, migrations, pool, plugin start-up, and the reverse on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiohttp import web

from engine import migrations
from engine.db.embedded import start_embedded
from engine.db.pool import close_pool, connect, create_pool
from engine.features.relations.nested import nested_routes
from engine.features.relations.service import RELATIONS, Relations
from engine.http.handlers import ResourceHandlers
from engine.http.keys import CONFIG, DATABASE_URL, MANAGERS, PLUGINS, POOL, SPEC
from engine.http.limits import handler_args
from engine.http.middleware import build_middlewares
from engine.kernel import settings
from engine.kernel import tasks as shutdown
from engine.kernel.config import Config
from engine.kernel.plugins import build_plugin_manager, call_all
from engine.resources.manager import ResourceManager
from engine.spec import Spec

log = logging.getLogger("engine")


def resolve_database_url(config: Config) -> str:
    return config.database_url or start_embedded(config.data_dir)


async def _database(app: web.Application) -> AsyncIterator[None]:
    config, spec = app[CONFIG], app[SPEC]
    url = resolve_database_url(config)
    app[DATABASE_URL] = url
    auto_migrate = config.auto_migrate if config.auto_migrate is not None else config.database_url is None
    conn = await connect(url, schema=config.db_schema)
    try:
        directory = f"{spec.root}/migrations"
        if auto_migrate:
            for name in await migrations.apply(conn, directory):
                log.warning("applied migration %s", name)
        else:
            pending = (await migrations.status(conn, directory)).pending
            if pending:
                log.warning(
                    "%d migration(s) pending (%s): run `resource-engine migrate apply`",
                    len(pending),
                    ", ".join(m.name for m in pending),
                )
    finally:
        await conn.close()
    pool = await create_pool(
        url,
        min_size=config.pool_min_size,
        max_size=config.pool_max_size,
        statement_timeout_ms=config.statement_timeout_ms,
        schema=config.db_schema,
    )
    app[POOL] = pool
    managers = {name: ResourceManager(resource, pool, app[PLUGINS]) for name, resource in spec.resources.items()}
    app[MANAGERS] = managers
    try:
        yield
    finally:
        await close_pool(pool)


async def _plugin_lifecycle(app: web.Application) -> AsyncIterator[None]:
    await call_all(app[PLUGINS].hook.startup, app=app)
    try:
        yield
    finally:
        await call_all(app[PLUGINS].hook.shutdown, app=app)


def _routes(spec: Spec) -> list[web.RouteDef]:
    return [route for resource in spec.resources.values() for route in ResourceHandlers(resource).routes()]


def create_app(spec: Spec, config: Config | None = None, *, plugins: Iterable[Any] = ()) -> web.Application:
    """Build the application; the database is opened when the app starts (cleanup_ctx)."""
    config = config or Config.from_env(spec)
    pm = build_plugin_manager(spec, plugins)  # imports the plugins: settings they declare are checked too
    settings.check(config.extra, spec)  # every bad ENGINE_* value in one ConfigurationError, before any hook
    plugin_middlewares = [m for result in pm.hook.middlewares(app=None, spec=spec) for m in (result or [])]
    app = web.Application(
        middlewares=build_middlewares(plugin_middlewares),
        client_max_size=config.body_limit,
        handler_args=handler_args(config),  # request line and header size limits, for every runner
    )
    app[SPEC], app[CONFIG], app[PLUGINS] = spec, config, pm
    shutdown.install(app)  # app[SHUTTING_DOWN]: set when the worker starts draining (event streams end)
    app[RELATIONS] = Relations(spec)
    pm.hook.configure(app=app, spec=spec, config=config)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_plugin_lifecycle)
    app.router.add_routes(_routes(spec))
    app.router.add_routes(nested_routes(spec))
    for extra in pm.hook.register_routes(app=app, spec=spec):
        app.router.add_routes(extra or [])
    return app
