"""Built-in atomic batch: `POST /api/batch` runs up to 100 write operations in one transaction.

Each operation goes through what its own request would (engine.http.bulk.perform: roles, row
access, validation, hooks, events); the answer has one result per operation, or, when one fails,
that operation's problem (with `operation`, its index) and nothing written. The OpenAPI document
of the bulk routes (engine.http.bulk) is contributed here too.
"""

from __future__ import annotations

from aiohttp import web

from engine.features.batch.openapi import batch_paths, bulk_operations
from engine.features.batch.run import operations, run
from engine.http.body import read_object
from engine.http.bulk import keyed_write
from engine.http.keys import CONFIG
from engine.http.query import refuse_parameters
from engine.http.responses import json_response
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.kernel.hooks import hookimpl
from engine.spec import Spec

PATH = "/api/batch"


@keyed_write
async def batch(request: web.Request) -> web.Response:
    refuse_parameters(request.query, "a batch")
    document = await read_object(request, request.app[CONFIG].body_limit)
    results = await run(request, operations(document))
    return json_response({"results": results})


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    if "batch" in spec.resources:
        raise ConfigurationError(
            "resources.batch clashes with the batch route /api/batch: rename the resource, "
            "or disable the batch plugin (plugins: {disabled: [batch]})"
        )


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    return [web.post(PATH, batch)]


@hookimpl(tryfirst=True)  # before the plugins that annotate operations (idempotency keys)
def register_openapi(document: dict, spec: Spec, app: web.Application) -> None:
    bulk_operations(document, spec, app[CONFIG].value("ENGINE_MAX_BATCH_ITEMS"))
    document.setdefault("paths", {}).update(batch_paths())
