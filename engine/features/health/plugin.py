"""Built-in health checks for orchestrators and load balancers.

- ``GET /healthz``: the process is alive and its event loop answers; no database call, so a
  database outage never gets healthy workers restarted.
- ``GET /readyz``: this worker should receive traffic: the database answers within
  ENGINE_READYZ_TIMEOUT seconds, no migration file is waiting to be applied, and the worker is not
  shutting down. Otherwise a 503 problem whose detail says which of the three failed. It recovers
  by itself when the cause goes away (the pool reconnects): no restart needed. With read replicas
  the body lists each one (`ok`, `lagging` or `down`, its lag); a replica never makes it 503.
"""

from __future__ import annotations

import asyncio
import os

import asyncpg
from aiohttp import web
from sqlglot import exp

from engine.http.keys import POOL, READS
from engine.http.middleware import DATABASE_UNAVAILABLE
from engine.http.responses import json_response
from engine.kernel.config import Config
from engine.kernel.errors import ServiceUnavailable
from engine.kernel.hooks import hookimpl
from engine.kernel.tasks import SHUTTING_DOWN
from engine.migrations import read_all
from engine.migrations.runner import BOOKKEEPING
from engine.spec import Spec
from engine.sql.ddl import column, render, table

MIGRATION_FILES = web.AppKey("readyz_migration_files", tuple)
TIMEOUT = web.AppKey("readyz_timeout", float)
_APPLIED = render(exp.select(column("name")).from_(table(BOOKKEEPING)))


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    if SHUTTING_DOWN in app and app[SHUTTING_DOWN].is_set():
        raise ServiceUnavailable("this worker is shutting down", headers={"Retry-After": "1"})
    applied = await _applied_migrations(app)
    pending = [name for name in app[MIGRATION_FILES] if name not in applied]
    if pending:
        raise ServiceUnavailable(
            f"{len(pending)} migration(s) pending: run `resource-engine migrate apply`", pending=pending
        )
    body = {"status": "ready", "database": "ok", "migrations": {"applied": len(applied), "pending": 0}}
    reads = app.get(READS)
    if reads is not None and reads.replicas:  # a replica down is reported, not fatal: the primary serves its reads
        body["replicas"] = reads.report()
    return json_response(body)


async def _applied_migrations(app: web.Application) -> set[str]:
    try:
        async with asyncio.timeout(app[TIMEOUT]):
            rows = await app[POOL].fetch(_APPLIED)
    except asyncpg.UndefinedTableError:
        return set()  # reachable, but no migration was ever applied here
    except (TimeoutError, asyncpg.PostgresError, *DATABASE_UNAVAILABLE) as error:
        raise ServiceUnavailable(
            f"the database is not reachable ({type(error).__name__})", headers={"Retry-After": "1"}
        ) from None
    return {row["name"] for row in rows}


def _timeout(config: Config) -> float:
    return config.value("ENGINE_READYZ_TIMEOUT")


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    app[MIGRATION_FILES] = tuple(m.name for m in read_all(os.path.join(spec.root, "migrations")))
    app[TIMEOUT] = _timeout(config)


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    return [web.get("/healthz", healthz, name="healthz"), web.get("/readyz", readyz, name="readyz")]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    problem = {"$ref": "#/components/responses/Error"}
    document["paths"]["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "tags": ["operations"],
            "summary": "Liveness: the process answers (no database call)",
            "security": [{}],
            "responses": {"200": {"description": '`{"status": "ok"}`', "content": {"application/json": {}}}},
        }
    }
    document["paths"]["/readyz"] = {
        "get": {
            "operationId": "readyz",
            "tags": ["operations"],
            "summary": "Readiness: the database answers and no migration is pending",
            "security": [{}],
            "responses": {
                "200": {"description": "Ready.", "content": {"application/json": {}}},
                "503": problem,
            },
        }
    }
