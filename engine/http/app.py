"""The app factory: spec + config in, a ready aiohttp application out.

Reading this file top to bottom gives the whole request pipeline (see build_middlewares) and the
lifecycle: database, migrations, pool, plugin start-up, and the reverse on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

import asyncpg
from aiohttp import web

from engine import migrations
from engine.db import pooler as pooling
from engine.db.embedded import start_embedded
from engine.db.pool import close_pool, connect, create_pool
from engine.db.pool_wait import bound_pool_wait
from engine.db.replicas import Replicas
from engine.http.bulk import WriteHandlers
from engine.http.keys import CONFIG, DATABASE_URL, MANAGERS, PLUGINS, POOL, POOLER, READS, SPEC
from engine.http.limits import handler_args
from engine.http.middleware import Pipeline, build_middlewares
from engine.http.parse_errors import install as answer_parser_errors_as_problems
from engine.kernel import settings
from engine.kernel import tasks as shutdown
from engine.kernel.config import Config
from engine.kernel.hooks import call_all, has_awaitables, resolve
from engine.kernel.plugins import build_plugin_manager
from engine.resources.context import PoolSettings
from engine.resources.manager import ResourceManager
from engine.spec import Spec
from engine.sql.references import live_references

log = logging.getLogger("engine")


def resolve_database_url(config: Config) -> str:
    return config.database_url or start_embedded(config.data_dir)


T = TypeVar("T")


def run_on_database(config: Config, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """For a command: `work` on one connection to the configured database (the embedded one when
    DATABASE_URL is unset), in the command's own event loop; the connection is closed either way."""

    async def main() -> T:
        conn = await connect(resolve_database_url(config), schema=config.db_schema)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def _warn_of_uncovered_changes(spec: Spec, directory: str) -> None:
    """A spec edited without `migrate make`: no file is pending, yet the API asks for what the tables lack."""
    if not migrations.read_all(directory):
        return  # a project without migration files: its tables are not made by them
    steps = migrations.pending_steps(spec, directory)
    if steps:
        log.warning(
            "%d change(s) in %s are not covered by a migration (%s): the API may fail or skip a constraint "
            "until you run `resource-engine migrate make` and `resource-engine migrate apply`",
            len(steps),
            os.path.basename(spec.path),
            "; ".join(step.description for step in steps),
        )


async def _database(app: web.Application) -> AsyncIterator[None]:
    config, spec = app[CONFIG], app[SPEC]
    url = resolve_database_url(config)
    pooler = await pooling.resolve(config.db_pooler, url) if config.database_url else pooling.NONE
    app[POOLER] = pooler
    app[DATABASE_URL] = pooling.session_url(pooler, url, config.listen_database_url)  # LISTEN, session locks
    auto_migrate = config.auto_migrate if config.auto_migrate is not None else config.database_url is None
    conn = await connect(app[DATABASE_URL], schema=config.db_schema)
    try:
        directory = f"{spec.root}/migrations"
        if auto_migrate:
            for name in await migrations.apply(conn, directory):
                log.warning("applied migration %s", name)
        else:
            state = await migrations.status(conn, directory)
            pending = state.pending
            if warning := state.unknown_warning():
                log.warning(warning)
            if pending:
                log.warning(
                    "%d migration(s) pending (%s): run `resource-engine migrate apply`",
                    len(pending),
                    ", ".join(m.name for m in pending),
                )
    finally:
        await conn.close()
    _warn_of_uncovered_changes(spec, directory)
    settings = PoolSettings(
        config.pool_min_size,
        config.pool_max_size,
        config.statement_timeout_ms,
        plan_cache_mode=config.value("ENGINE_DB_PLAN_CACHE_MODE"),
        statement_lifetime=config.value("ENGINE_DB_STATEMENT_LIFETIME"),
        coalesce_reads=config.value("ENGINE_DB_COALESCE_READS"),
        combine_writes=config.value("ENGINE_DB_COMBINE_WRITES"),
    )
    await call_all(app[PLUGINS].hook.before_pool_open, app=app, settings=settings)
    if pooler == pooling.PGBOUNCER:
        await pooling.check_session_defaults(url, config.db_schema, settings.statement_timeout_ms)
    pool = await create_pool(
        url,
        min_size=settings.min_size,
        max_size=settings.max_size,
        statement_timeout_ms=settings.statement_timeout_ms,
        schema=config.db_schema,
        pooler=pooler,
        plan_cache_mode=settings.plan_cache_mode,
        max_cached_statement_lifetime=settings.statement_lifetime or 0,
        coalesce_reads=settings.coalesce_reads,
        combine_writes=settings.combine_writes,
        application_name=config.value("ENGINE_DB_APPLICATION_NAME"),
    )
    if settings.acquire_timeout is not None:
        bound_pool_wait(pool, settings.acquire_timeout)
    app[POOL] = pool
    reads = app[READS] = await open_replicas(config, settings, pool, pooler)
    managers = {
        name: ResourceManager(
            resource, pool, app[PLUGINS], reads=reads.for_resource(resource), live=live_references(spec, resource)
        )
        for name, resource in spec.resources.items()
    }
    for manager in managers.values():
        manager.peers = managers
    app[MANAGERS] = managers
    try:
        yield
    finally:
        await reads.close()
        await close_pool(pool)


async def open_replicas(config: Config, settings: PoolSettings, pool: Any, pooler: str) -> Replicas:
    """The read router (engine.db.replicas): DATABASE_REPLICA_URLS, or the primary alone."""
    return await Replicas.open(
        pool,
        config.replica_urls,
        pool_size=config.value("ENGINE_REPLICA_POOL_SIZE"),
        statement_timeout_ms=settings.statement_timeout_ms,
        schema=config.db_schema,
        pooler=pooler,
        plan_cache_mode=settings.plan_cache_mode,
        statement_lifetime=settings.statement_lifetime,
        max_lag=config.value("ENGINE_REPLICA_MAX_LAG"),
        interval=config.value("ENGINE_REPLICA_CHECK_INTERVAL"),
        coalesce_reads=settings.coalesce_reads,
        application_name=config.value("ENGINE_DB_APPLICATION_NAME"),
    )


async def _plugin_lifecycle(app: web.Application) -> AsyncIterator[None]:
    await call_all(app[PLUGINS].hook.startup, app=app)
    try:
        for manager in app[MANAGERS].values():  # every plugin is registered now (a startup hook may add one)
            manager.prepare_hooks()
        yield
    finally:
        await call_all(app[PLUGINS].hook.shutdown, app=app)


def _routes(spec: Spec) -> list[web.RouteDef]:
    return [route for resource in spec.resources.values() for route in WriteHandlers(resource).routes()]


PENDING = web.AppKey("pending_hook_answers", list)  # async answers of configure/routes/middlewares


def create_app(spec: Spec, config: Config | None = None, *, plugins: Iterable[Any] = ()) -> web.Application:
    """Build the application; the database is opened when the app starts (cleanup_ctx).

    Hooks that answer synchronously take effect here; async answers of `configure`,
    `register_routes` and `register_middlewares` are awaited first thing at start-up, before the
    database opens and before the server listens (aiohttp freezes routes and middlewares only then).
    """
    config = config or Config.from_env(spec)
    answer_parser_errors_as_problems()  # 414/431/400 problem+json for what aiohttp's parser refuses
    pm = build_plugin_manager(spec, plugins)  # imports the plugins: settings they declare are checked too
    settings.check(config.extra, spec)  # every bad ENGINE_* value in one ConfigurationError, before any hook
    app = web.Application(
        client_max_size=config.body_limit,
        handler_args=handler_args(config),  # request line and header size limits, for every runner
    )
    app[SPEC], app[CONFIG], app[PLUGINS] = spec, config, pm
    shutdown.install(app)  # app[SHUTTING_DOWN]: set when the worker starts draining (event streams end)
    configured = pm.hook.configure(app=app, spec=spec, config=config)
    middlewares = pm.hook.register_middlewares(app=app, spec=spec)
    app.router.add_routes(_routes(spec))
    routes = pm.hook.register_routes(app=app, spec=spec)
    app[PENDING] = [configured, middlewares, routes]
    if not any(has_awaitables(answers) for answers in app[PENDING]):
        _install(app, [m for m in middlewares if m is not None], [r for r in routes if r is not None])
    app.cleanup_ctx.append(_async_answers)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_plugin_lifecycle)
    return app


def _install(app: web.Application, middlewares: list[Any], routes: list[Any]) -> None:
    app.middlewares.append(Pipeline(build_middlewares([m for result in middlewares for m in result])))
    for extra in routes:
        app.router.add_routes(extra)
    app[PENDING] = []


async def _async_answers(app: web.Application) -> AsyncIterator[None]:
    """Await what async `configure`, `register_middlewares` and `register_routes` returned."""
    if app[PENDING]:
        configured, middlewares, routes = app[PENDING]
        await resolve(configured)  # results are ignored: awaiting them ran them
        _install(app, await resolve(middlewares), await resolve(routes))
    for middleware in app.middlewares:
        if isinstance(middleware, Pipeline):
            middleware.check(list(app.router.routes()))
    yield
