"""Built-in: serves the OpenAPI 3.1 document at GET /openapi.json and prints it (`openapi` command)."""

from __future__ import annotations

import argparse
import asyncio

import orjson
from aiohttp import web

from engine.features.openapi import build_document, document_bytes, prepare
from engine.http.app import create_app
from engine.http.keys import PLUGINS
from engine.kernel.config import Config
from engine.kernel.hooks import hookimpl
from engine.spec import Spec, load_spec

PATH = "/openapi.json"


async def serve_document(request: web.Request) -> web.Response:
    body = await document_bytes(request.app)
    return web.Response(body=body, content_type="application/json", headers={"Cache-Control": "no-cache"})


@hookimpl(trylast=True)
def configure(app: web.Application) -> None:
    prepare(app)


@hookimpl(trylast=True)
def register_routes() -> list[web.RouteDef]:
    return [web.get(PATH, serve_document)]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    document["paths"][PATH] = {
        "get": {
            "operationId": "openapi_document",
            "tags": ["documentation"],
            "summary": "This OpenAPI 3.1 document",
            "security": [{}],
            "responses": {"200": {"description": "The document.", "content": {"application/json": {}}}},
        }
    }


def _openapi_command(args: argparse.Namespace, out) -> int:

    spec: Spec = load_spec(args.spec)
    config = Config.from_env(spec)
    app = create_app(spec, config)  # built, never started: plugins see their configured state
    document = asyncio.run(
        build_document(spec, app[PLUGINS], app, page_size=config.page_size, max_page_size=config.max_page_size)
    )
    out.plain(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    return 0


@hookimpl
def register_commands(commands) -> None:
    command = commands.add_parser("openapi", help="print the OpenAPI 3.1 document (for client generators)")
    command.set_defaults(run=_openapi_command)
