"""Built-in webhooks: admins register endpoints; every matching event is POSTed to them, signed.

- ``POST /api/webhooks`` {url, resources, actions?, filter?, description?} -> 201 with the signing
  secret (``whsec_...``), shown this once and stored encrypted with ENGINE_FIELD_KEYS (secrets.py).
  ``GET``/``PATCH``/``DELETE /api/webhooks/{id}``, ``GET /api/webhooks``.
- ``GET /api/webhooks/{id}/deliveries?status=&limit=``: status, attempts, response code, next attempt.
- ``POST /api/webhooks/{id}/deliveries/{delivery_id}/replay``, ``POST /api/webhooks/{id}/replay``
  {since, until?, status?}: send again (the same ``webhook-id``).

Deliveries are rows in PostgreSQL (store.py), fed from the events outbox and sent by every worker
(worker.py) with Standard Webhooks signatures (sender.py). See docs/events.md, "Webhooks".
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from engine.db.internal import ensure_tables
from engine.features.events.tables import MODELS as EVENT_MODELS
from engine.features.secrets.keys import FieldKeys
from engine.features.webhooks import store
from engine.features.webhooks.openapi import webhook_paths
from engine.features.webhooks.requests import (
    endpoint_values,
    list_params,
    new_secret,
    path_id,
    replay_range,
    require_admin,
)
from engine.features.webhooks.secrets import rotate_secrets, seal, webhook_keys
from engine.features.webhooks.worker import WebhookSettings, Worker
from engine.http.body import read_object
from engine.http.keys import CONFIG, IDENTITY, PLUGINS, POOL, SPEC
from engine.http.query import refuse_parameters
from engine.http.responses import json_response
from engine.kernel.config import Config
from engine.kernel.errors import NotFound, Problem
from engine.kernel.hooks import hookimpl
from engine.kernel.tasks import cancel_task
from engine.spec import Spec

log = logging.getLogger("engine.webhooks")
SETTINGS = web.AppKey("webhook_settings", WebhookSettings)
WORKER = web.AppKey("webhook_worker", Worker)
TASK = web.AppKey("webhook_task", asyncio.Task)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class NoFieldKeys(Problem):
    status = 501
    title = "Not Implemented"
    slug = "webhook-keys-missing"


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    app[SETTINGS] = WebhookSettings(
        retry_backoff=config.value("ENGINE_WEBHOOK_RETRY_BACKOFF"),
        retry_period=config.value("ENGINE_WEBHOOK_RETRY_PERIOD"),
        disable_after=config.value("ENGINE_WEBHOOK_DISABLE_AFTER"),
        timeout=config.value("ENGINE_WEBHOOK_TIMEOUT"),
        max_response=config.value("ENGINE_WEBHOOK_MAX_RESPONSE"),
        allow_hosts=tuple(host.lower() for host in config.value("ENGINE_WEBHOOK_ALLOW_HOSTS")),
        poll_interval=config.value("ENGINE_WEBHOOK_POLL_INTERVAL"),
        concurrency=config.value("ENGINE_WEBHOOK_CONCURRENCY"),
        keys=webhook_keys(spec, config),
    )


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    """Every worker delivers; without the events feature there is nothing to deliver."""
    if app[PLUGINS].get_plugin("events") is None:
        return
    await ensure_tables(app[POOL], *EVENT_MODELS, *store.MODELS)
    worker = app[WORKER] = Worker(app[POOL], app[SETTINGS])
    await worker.start()
    app[TASK] = asyncio.create_task(worker.run(), name="engine-webhooks")


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    await cancel_task(app.get(TASK))


def _allowed(request: web.Request) -> frozenset[str]:
    return frozenset(request.app[SETTINGS].allow_hosts)


def _shown(row: asyncpg.Record) -> dict[str, Any]:
    return {**dict(row), "id": str(row["id"])}


def _delivery(row: asyncpg.Record) -> dict[str, Any]:
    return {**dict(row), "id": str(row["id"]), "endpoint_id": str(row["endpoint_id"])}


def _wake(request: web.Request) -> None:
    worker = request.app.get(WORKER)
    if worker is not None:
        worker.wake.set()


async def create_endpoint(request: web.Request) -> web.Response:
    require_admin(request[IDENTITY], write=True)
    refuse_parameters(request.query, "creating a webhook")
    body = await read_object(request, request.app[CONFIG].body_limit)
    values = endpoint_values(body, request.app[SPEC], _allowed(request), None)
    keys = request.app[SETTINGS].keys
    if keys is None:
        raise NoFieldKeys(
            "this server cannot store signing secrets: set ENGINE_FIELD_KEYS (`resource-engine keys new` makes a key)"
        )
    secret = new_secret()
    row = await request.app[POOL].fetchrow(
        store.INSERT_ENDPOINT.sql, *store.INSERT_ENDPOINT.args({**values, "secret": seal(secret, keys)})
    )
    return json_response({"data": {**_shown(row), "secret": secret}}, status=201, headers=NO_STORE)


async def list_endpoints(request: web.Request) -> web.Response:
    require_admin(request[IDENTITY], write=False)
    rows = await request.app[POOL].fetch(store.LIST_ENDPOINTS.sql)
    return json_response({"data": [_shown(row) for row in rows]})


async def _endpoint(request: web.Request) -> asyncpg.Record:
    endpoint_id = path_id(request, "id", "webhook")
    row = await request.app[POOL].fetchrow(store.GET_ENDPOINT.sql, *store.GET_ENDPOINT.args({"id": endpoint_id}))
    if row is None:
        raise NotFound("no such webhook")
    return row


async def get_endpoint(request: web.Request) -> web.Response:
    require_admin(request[IDENTITY], write=False)
    return json_response({"data": _shown(await _endpoint(request))})


async def update_endpoint(request: web.Request) -> web.Response:
    require_admin(request[IDENTITY], write=True)
    refuse_parameters(request.query, "changing a webhook")
    body = await read_object(request, request.app[CONFIG].body_limit)
    current = await _endpoint(request)
    kept = {k: current[k] for k in ("url", "resources", "actions", "filter", "description", "enabled")}
    values = endpoint_values(body, request.app[SPEC], _allowed(request), kept)
    row = await request.app[POOL].fetchrow(
        store.UPDATE_ENDPOINT.sql, *store.UPDATE_ENDPOINT.args({**values, "id": current["id"]})
    )
    if row is None:
        raise NotFound("no such webhook")
    _wake(request)
    return json_response({"data": _shown(row)})


async def delete_endpoint(request: web.Request) -> web.Response:
    require_admin(request[IDENTITY], write=True)
    refuse_parameters(request.query, "deleting a webhook")
    endpoint_id = path_id(request, "id", "webhook")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await conn.execute(store.DELETE_ENDPOINT_DELIVERIES.sql, endpoint_id)
        if await conn.fetchval(store.DELETE_ENDPOINT.sql, endpoint_id) is None:
            raise NotFound("no such webhook")
    return web.Response(status=204)


async def list_deliveries(request: web.Request) -> web.Response:
    require_admin(request[IDENTITY], write=False)
    endpoint = await _endpoint(request)
    values = {**list_params(request), "endpoint": endpoint["id"]}
    rows = await request.app[POOL].fetch(store.LIST_DELIVERIES.sql, *store.LIST_DELIVERIES.args(values))
    return json_response({"data": [_delivery(row) for row in rows]})


async def replay_delivery(request: web.Request) -> web.Response:
    require_admin(request[IDENTITY], write=True)
    refuse_parameters(request.query, "replaying a delivery")
    endpoint = await _endpoint(request)
    values = {"id": path_id(request, "delivery_id", "delivery"), "endpoint": endpoint["id"]}
    row = await request.app[POOL].fetchrow(store.REPLAY_ONE.sql, *store.REPLAY_ONE.args(values))
    if row is None:
        raise NotFound("no such delivery of this webhook")
    _wake(request)
    return json_response({"data": _delivery(row)}, status=202)


async def replay_range_of(request: web.Request) -> web.Response:
    require_admin(request[IDENTITY], write=True)
    refuse_parameters(request.query, "replaying deliveries")
    endpoint = await _endpoint(request)
    body = await read_object(request, request.app[CONFIG].body_limit)
    values = {**replay_range(body, datetime.now(UTC)), "endpoint": endpoint["id"]}
    rows = await request.app[POOL].fetch(store.REPLAY_RANGE.sql, *store.REPLAY_RANGE.args(values))
    _wake(request)
    return json_response({"data": {"replayed": len(rows)}}, status=202)


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    return [
        web.post("/api/webhooks", create_endpoint),
        web.get("/api/webhooks", list_endpoints),
        web.get("/api/webhooks/{id}", get_endpoint),
        web.patch("/api/webhooks/{id}", update_endpoint),
        web.delete("/api/webhooks/{id}", delete_endpoint),
        web.get("/api/webhooks/{id}/deliveries", list_deliveries),
        web.post("/api/webhooks/{id}/deliveries/{delivery_id}/replay", replay_delivery),
        web.post("/api/webhooks/{id}/replay", replay_range_of),
    ]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    webhook_paths(document)


@hookimpl
async def rotate_field_keys(conn: asyncpg.Connection, keys: FieldKeys) -> tuple[str, int, int]:
    """`resource-engine keys rotate`: the endpoints' signing secrets too (plain ones get encrypted)."""
    done = await rotate_secrets(conn, keys)
    return "webhook signing secrets", done.rows, done.failed
