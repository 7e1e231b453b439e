"""Hand an aiohttp request to the MCP SDK's Streamable HTTP transport, an ASGI application.

The SDK owns the protocol (both of its eras, the JSON-RPC envelope, headers, status codes); the
engine owns the connection, the middlewares and the caller. The request reaches the SDK after the
engine's middlewares ran, with its body already read, and the SDK's answer comes back as one
aiohttp response (the transport answers in JSON mode: one JSON-RPC reply per POST, no stream).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from multidict import CIMultiDict
from starlette.types import ASGIApp, Message

from engine.kernel.errors import Problem

# The scope key under which tool handlers find the engine's side of the request: (app, the MCP request).
ENGINE_REQUEST = "resource_engine.request"
_HOP_BY_HOP = ("content-length", "transfer-encoding", "connection")


def scope_of(request: web.Request, extra: dict[str, Any]) -> dict[str, Any]:
    """The ASGI HTTP scope of `request` (RFC: asgi.readthedocs.io, HTTP connection scope)."""
    version = request.version
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{version.major}.{version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path.partition("?")[0].encode("latin-1"),
        "query_string": request.query_string.encode("latin-1"),
        "root_path": "",
        "headers": [(name.lower(), value) for name, value in request.raw_headers],
        "client": (request.remote, 0) if request.remote else None,
        "server": None,
        "state": {},
        **extra,
    }


async def respond(asgi: ASGIApp, request: web.Request, body: bytes, extra: dict[str, Any]) -> web.Response:
    """Run `asgi` on `request` (whose body is `body`) and turn what it sent into an aiohttp response."""
    done = asyncio.Event()
    start: dict[str, Any] = {}
    chunks: list[bytes] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # the client is there until the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    try:
        await asgi(scope_of(request, extra), receive, send)
    finally:
        done.set()
    if not start:
        raise Problem("the MCP transport gave no answer")
    headers = CIMultiDict(
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in start.get("headers", ())
        if name.lower().decode("latin-1") not in _HOP_BY_HOP
    )
    return web.Response(status=start["status"], body=b"".join(chunks), headers=headers)
