"""Built-in events: the outbox in every write, on_event delivery, /api/events and its stream.

Disable with `plugins: {disabled: [events]}`; settings are ENGINE_EVENTS_* (see docs/events.md).
The write hooks live on a per-app object (engine.features.events.outbox.Outbox) registered in `configure`,
because following cascades needs the whole spec and module state would be shared between apps.
"""

from __future__ import annotations

import logging

from aiohttp import web

from engine.db.internal import ensure_tables
from engine.features.events import commands as event_commands
from engine.features.events import positions
from engine.features.events.delivery import Delivery
from engine.features.events.dispatcher import Dispatcher
from engine.features.events.history import history
from engine.features.events.hub import SHUTTING_DOWN
from engine.features.events.openapi import events_paths
from engine.features.events.outbox import Outbox
from engine.features.events.runtime import EVENTS, EventsRuntime
from engine.features.events.settings import load_settings
from engine.features.events.stream import stream
from engine.features.events.tables import HANDLERS_CURSOR, MODELS
from engine.http.keys import CONFIG, DATABASE_URL, PLUGINS, POOL, REQUEST_ID
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.kernel.event import HandlerFailed
from engine.kernel.hooks import hookimpl
from engine.spec import Spec

log = logging.getLogger("engine.events")
errors_log = logging.getLogger("engine.errors")
OUTBOX = "events.outbox"


async def _close_streams(app: web.Application) -> None:
    """On shutdown, end open streams first: they would otherwise hold the graceful stop open."""
    app[EVENTS].hub.close_all(SHUTTING_DOWN)


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    if "events" in spec.resources:
        raise ConfigurationError(
            "resources.events clashes with the event routes /api/events: rename the resource, "
            "or disable the events plugin (plugins: {disabled: [events]})"
        )
    app[EVENTS] = EventsRuntime(load_settings(spec, config))
    app[PLUGINS].register(Outbox(spec), name=OUTBOX)
    app.on_shutdown.append(_close_streams)


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    runtime, pool = app[EVENTS], app[POOL]
    await ensure_tables(pool, *MODELS)
    # Handlers start from here on the very first start, never from events written before it.
    await positions.init_cursor(pool, HANDLERS_CURSOR)
    runtime.delivery = Delivery(pool, app[PLUGINS], runtime.settings)
    schema = app[CONFIG].db_schema
    runtime.dispatcher = Dispatcher(pool, app[DATABASE_URL], schema, runtime.hub, runtime.delivery, runtime.settings)
    await runtime.dispatcher.start()
    app[PLUGINS].get_plugin(OUTBOX).on_written = runtime.dispatcher.written


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    dispatcher = app[EVENTS].dispatcher
    if dispatcher is not None:
        await dispatcher.stop()


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    return [
        web.get("/api/events", history),
        web.get("/api/events/stream", stream, allow_head=False),
    ]


@hookimpl
def register_commands(commands) -> None:
    event_commands.register(commands)


@hookimpl(trylast=True)
def on_error(request: web.Request | None, error: BaseException) -> None:
    """The default error report: a log line with the context (error trackers add their own plugin)."""
    if isinstance(error, HandlerFailed):
        errors_log.error(
            "on_event handler %s gave up on event id=%d (%s.%s record_id=%s) after %d attempt(s)",
            error.handler,
            error.event.id,
            error.event.resource,
            error.event.action,
            error.event.record_id,
            error.attempts,
            exc_info=error.__cause__,
        )
    elif request is not None:  # the error boundary logged the traceback already
        errors_log.error(
            "error reported request_id=%s %s %s: %r", request.get(REQUEST_ID), request.method, request.path, error
        )
    else:
        errors_log.error("error reported in background work: %r", error, exc_info=error)


@hookimpl(trylast=True)
def register_openapi(document: dict, app: web.Application) -> None:
    config = app[CONFIG]
    events_paths(document, page_size=config.page_size, max_page_size=config.max_page_size)
