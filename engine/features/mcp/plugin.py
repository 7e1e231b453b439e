"""Built-in MCP server: `/mcp` (Streamable HTTP) and `resource-engine mcp` (stdio), from the spec.

One tool per resource and action (`agents_list`, `agents_get`, `agents_create`, `agents_update`,
`agents_delete`), per nested relation route (`teams_members_list`, `_get`, `_add`, `_update`,
`_remove`) and `me`, listed to a caller only when their roles allow the action, and each call run
through the REST route it names: see engine/features/mcp/server.py and docs/mcp.md.

The MCP SDK loads on the first `/mcp` request (engine/features/mcp/runtime.py): a worker that never
serves MCP never pays its memory.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

import pluggy
from aiohttp import web

from engine.features.mcp import cli
from engine.features.mcp.names import check_unique
from engine.features.mcp.openapi import mcp_paths
from engine.http.keys import PLUGINS
from engine.kernel.config import Config
from engine.kernel.errors import ServiceUnavailable
from engine.kernel.hooks import hookimpl
from engine.spec import Spec

if TYPE_CHECKING:
    from engine.features.mcp.endpoint import Endpoint

PATH = "/mcp"


class LazyEndpoint:
    """The `/mcp` endpoint, started once by whichever request comes first; concurrent first
    requests wait for the same start, and a failed start is tried again by the next request."""

    def __init__(self, spec: Spec, config: Config, pm: pluggy.PluginManager):
        self._spec, self._config, self._pm = spec, config, pm
        self._starting: asyncio.Future[Endpoint] | None = None
        self._closed = False

    async def get(self) -> Endpoint:
        if self._closed:
            raise ServiceUnavailable("the MCP endpoint is not running", headers={"Retry-After": "1"})
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        starting = self._starting
        try:
            return await asyncio.shield(starting)  # a caller's deadline never cancels the shared start
        except Exception:
            if starting.done() and self._starting is starting:
                self._starting = None
            raise

    async def _start(self) -> Endpoint:
        from engine.features.mcp.runtime import start_endpoint  # the MCP SDK: on first use only

        return await start_endpoint(self._spec, self._config, self._pm)

    async def stop(self) -> None:
        self._closed = True
        if self._starting is None:
            return
        try:
            endpoint = await self._starting
        except Exception:
            return  # it never started; its error reached the request that waited for it
        await endpoint.stop()


ENDPOINT = web.AppKey("mcp_endpoint", LazyEndpoint)


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    if app[PLUGINS].get_plugin("relations") is not None:
        check_unique(spec)  # the tools are built on the first request: their names are checked now
    app[ENDPOINT] = LazyEndpoint(spec, config, app[PLUGINS])


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    await app[ENDPOINT].stop()


async def _handle(request: web.Request) -> web.Response:
    endpoint = await request.app[ENDPOINT].get()
    return await endpoint.handle(request)


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    return [web.post(PATH, _handle)]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    mcp_paths(document)


@hookimpl(trylast=True)
def register_commands(commands: argparse._SubParsersAction) -> None:
    cli.add_parser(commands)
