"""`/mcp`: the SDK's Streamable HTTP transport, stateless, behind the engine's middlewares.

Stateless, so any worker of a cluster answers any request (no session to pin a client to a
process) and every request is authenticated anew by its own credentials; JSON mode, so each POST
gets one JSON-RPC reply. The SDK's session manager holds a task group for the life of the app: it
runs in a task of its own, started and stopped by the feature's `startup` and `shutdown`.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from engine.features.mcp.bridge import ENGINE_REQUEST, respond
from engine.features.mcp.envelope import refusal
from engine.kernel.errors import Problem, ServiceUnavailable, UnsupportedMediaType


class Endpoint:
    def __init__(self, server: Server[Any]):
        self.server = server
        self._manager: StreamableHTTPSessionManager | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the SDK's session manager in its own task; returns once it accepts requests."""
        manager = StreamableHTTPSessionManager(app=self.server, json_response=True, stateless=True)
        ready = asyncio.Event()

        async def run() -> None:
            async with manager.run():
                ready.set()
                await self._stop.wait()

        self._task = asyncio.create_task(run(), name="mcp-session-manager")
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait((self._task, waiting), return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if self._task.done():
            self._task.result()  # it failed to start: raise its error
        self._manager = manager

    async def stop(self) -> None:
        self._manager = None
        self._stop.set()
        if self._task is not None:
            await self._task

    async def handle(self, request: web.Request) -> web.Response:
        """One MCP message in, the SDK's answer out; tool calls run as the request's caller."""
        if self._manager is None:
            raise ServiceUnavailable("the MCP endpoint is not running", headers={"Retry-After": "1"})
        if request.content_type != "application/json":
            raise UnsupportedMediaType(f"send MCP messages as application/json (got {request.content_type or 'none'})")
        body = await request.read()
        refused = invalid_request(body)
        if refused is not None:
            return refused
        response = await respond(self._manager.handle_request, request, body, {ENGINE_REQUEST: (request.app, request)})
        if response.status >= 400 and response.content_type != "application/json":
            raise _refusal(response)  # the transport's bare refusals (406 ...) as the engine's problems
        return response


def invalid_request(body: bytes) -> web.Response | None:
    """JSON-RPC's Invalid Request (HTTP 400) for a message the SDK would mistake or word badly
    (engine.features.mcp.envelope). None when the envelope is sound, or when the body is not JSON
    (the SDK's Parse error answers that)."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    answer = refusal(message)
    if answer is None:
        return None
    return web.json_response(answer, status=400, dumps=lambda v: orjson.dumps(v).decode())


def _refusal(response: web.Response) -> Problem:
    status = HTTPStatus(response.status)
    body = response.body if isinstance(response.body, bytes) else b""
    problem = Problem(body.decode("utf-8", "replace")[:500] or status.description)
    problem.status, problem.title = status.value, status.phrase
    return problem
