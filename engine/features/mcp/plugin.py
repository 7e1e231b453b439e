"""Built-in MCP server: `/mcp` (Streamable HTTP) and `resource-engine mcp` (stdio), from the spec.

One tool per resource and action (`agents_list`, `agents_get`, `agents_create`, `agents_update`,
`agents_delete`), listed to a caller only when their roles allow the action, and each call run
through the REST route it names: see engine/features/mcp/server.py and docs/mcp.md.
"""

from __future__ import annotations

import argparse

from aiohttp import web

from engine.features.mcp import stdio
from engine.features.mcp.endpoint import Endpoint
from engine.features.mcp.openapi import mcp_paths
from engine.features.mcp.server import build_server
from engine.features.mcp.tools import Catalog
from engine.http.keys import PLUGINS
from engine.kernel.config import Config
from engine.kernel.hooks import hookimpl
from engine.spec import Spec

ENDPOINT = web.AppKey("mcp_endpoint", Endpoint)
PATH = "/mcp"


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    catalog = Catalog(spec, page_size=config.page_size, max_page_size=config.max_page_size)
    app[ENDPOINT] = Endpoint(build_server(catalog, app[PLUGINS]))


@hookimpl(trylast=True)
async def startup(app: web.Application) -> None:
    await app[ENDPOINT].start()


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    await app[ENDPOINT].stop()


async def _handle(request: web.Request) -> web.Response:
    return await request.app[ENDPOINT].handle(request)


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    return [web.post(PATH, _handle)]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    mcp_paths(document)


@hookimpl(trylast=True)
def register_commands(commands: argparse._SubParsersAction) -> None:
    stdio.add_parser(commands)
