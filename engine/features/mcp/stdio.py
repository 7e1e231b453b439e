"""`resource-engine mcp`: the same MCP tools on stdin/stdout, for clients that launch a command.

The tools are the `/mcp` endpoint's: this command starts the engine in-process, listening on a
unix socket in a private directory (or, with `--url`, uses a server already running), and forwards
`tools/list` and `tools/call` to that endpoint with the SDK's own client, carrying the credential
from ENGINE_MCP_TOKEN. Authentication, tool visibility and every tool call are therefore decided
exactly as over HTTP, by one implementation. The SDK's `stdio_server` keeps stray prints of the
engine or a plugin off the protocol stream (they go to stderr, as do the logs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import mcp_types as types
from aiohttp import web
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from engine.features.mcp.server import INSTRUCTIONS, NAME, version
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.plugins import PluginError
from engine.kernel.settings import value
from engine.spec import SpecError, load_spec

log = logging.getLogger("engine.mcp")
SOCKET = "engine.sock"
TIMEOUT = httpx2.Timeout(30.0, read=300.0)  # the SDK's own client's: a tool call may take its time


def run(args: argparse.Namespace, out: Any) -> int:
    """`resource-engine mcp` (its arguments: engine/features/mcp/cli.py)."""
    token = value("ENGINE_MCP_TOKEN")
    if not token:
        log.warning("ENGINE_MCP_TOKEN is not set: the tools are those an anonymous caller may use")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        asyncio.run(serve(args.spec, args.url, headers))
    except (SpecError, PluginError) as exc:
        out.error(str(exc))
        return 1
    except (OSError, httpx2.HTTPError, MCPError, ExceptionGroup) as exc:  # the engine could not be reached
        log.debug("resource-engine mcp stopped", exc_info=exc)
        out.error(f"resource-engine mcp: {_reason(exc)}" + (f" (at {args.url})" if args.url else ""))
        return 1
    return 0


def _reason(error: BaseException) -> str:
    """The innermost cause: task groups wrap the error that ended a connection."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"


async def serve(spec_path: str, url: str | None, headers: dict[str, str]) -> None:
    """Serve stdio until the client closes stdin."""
    async with contextlib.AsyncExitStack() as stack:
        if url is None:
            socket = await stack.enter_async_context(_engine_on_socket(spec_path))
            http = _http_client(headers, httpx2.AsyncHTTPTransport(uds=socket))
            url = "http://engine/mcp"
        else:
            http = _http_client(headers)
        await stack.enter_async_context(http)
        upstream = await stack.enter_async_context(Client(streamable_http_client(url, http_client=http), cache=None))
        server = forwarding_server(upstream)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def _http_client(headers: dict[str, str], transport: httpx2.AsyncBaseTransport | None = None) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers=headers, timeout=TIMEOUT, transport=transport)


@contextlib.asynccontextmanager
async def _engine_on_socket(spec_path: str) -> AsyncIterator[str]:
    """The app of `spec_path`, started and listening on a unix socket only this user can reach."""
    spec = load_spec(spec_path)
    app = create_app(spec, Config.from_env(spec))
    runner = web.AppRunner(app, access_log=None)
    with tempfile.TemporaryDirectory(prefix="resource-engine-mcp-") as directory:  # mode 0700
        path = os.path.join(directory, SOCKET)
        await runner.setup()
        try:
            await web.UnixSite(runner, path).start()
            yield path
        finally:
            await runner.cleanup()


def forwarding_server(upstream: Client) -> Server[Any]:
    """A server whose tools are `upstream`'s: its list, its calls, its errors."""

    async def list_tools(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return await upstream.list_tools(cursor=params.cursor if params else None)

    async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await upstream.call_tool(params.name, params.arguments)

    return Server(NAME, version=version(), instructions=INSTRUCTIONS, on_list_tools=list_tools, on_call_tool=call_tool)
