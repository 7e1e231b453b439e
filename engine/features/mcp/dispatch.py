"""A tool call as an internal request through the app's whole pipeline, as if the client had sent it.

The request runs through `Application._handle`, the entry aiohttp's own server uses: routing, every
middleware (request id and problem+json boundary, deadline, rate limit, authentication with the
`identity_from_request` hook, caches, logging, metrics) and the generated handler, which authorizes,
validates, writes in its transaction and emits events. So a tool reaches exactly the rows and
fields the REST route gives the same caller, and refuses with the same problem.

The internal request shares the MCP request's connection (so its peer address and TLS), task and
HTTP version, and carries only the caller's credential headers, the MCP request's id, and its own
method, path and body. It is built as aiohttp's parser builds one (a `RawRequestMessage` and a
body stream); `Application._handle` is the one private name, checked by tests/test_mcp_dispatch.py
against the installed aiohttp.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http import RawRequestMessage
from aiohttp.streams import EmptyStreamReader, StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from engine.features.mcp.tools import Call
from engine.http.keys import INSIDE, REQUEST_ID

# What identifies the caller: their credential (a bearer token or an API key) and, behind trusted
# proxies, their address. Cookies are not forwarded: MCP clients authenticate with a header, and a
# browser's session cookie must not turn a cross-site request into the user's tool call.
FORWARDED = ("Host", "Authorization", "X-API-Key", "X-Forwarded-For", "Forwarded", "User-Agent", "Accept-Language")


@dataclass(frozen=True)
class Answer:
    """What the REST route answered."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


async def dispatch(app: web.Application, outer: web.Request, call: Call) -> Answer:
    """Run `call` through the app as `outer`'s caller; the REST answer, errors included."""
    try:
        inner = internal_request(outer, call)
        inner[INSIDE] = outer
        response = await app._handle(inner)
    except web.HTTPException as exc:  # below 400 (a redirect): the error boundary lets those through
        response = exc
    body = response.body if isinstance(response.body, bytes) else b""
    return Answer(response.status, CIMultiDictProxy(CIMultiDict(response.headers)), body)


def internal_request(outer: web.Request, call: Call) -> web.Request:
    """`call` as a request from `outer`'s client, on `outer`'s connection."""
    headers = CIMultiDict((name, value) for name in FORWARDED for value in outer.headers.getall(name, ()))
    if REQUEST_ID in outer:
        headers["X-Request-ID"] = outer[REQUEST_ID]  # the tool's log lines carry the MCP request's id
    if call.body is not None:
        headers["Content-Type"] = "application/json"
        headers["Content-Length"] = str(len(call.body))
    # The bytes the client sent: aiohttp decodes header values with surrogateescape, so bytes that are
    # not UTF-8 come back as they were instead of failing the call.
    raw_headers = tuple((name.encode(), value.encode("utf-8", "surrogateescape")) for name, value in headers.items())
    url = URL(call.path)
    message = RawRequestMessage(
        call.method, call.path, outer.version, CIMultiDictProxy(headers), raw_headers, False, None, False, False, url
    )
    payload = _payload(outer, call.body)
    loop = asyncio.get_running_loop()
    return web.Request(
        message, payload, outer.protocol, outer.writer, outer.task, loop, client_max_size=outer.client_max_size
    )


def _payload(outer: web.Request, body: bytes | None) -> StreamReader:
    """A body stream holding `body`, as if read from the socket (middlewares that read it see it)."""
    if body is None:
        return EmptyStreamReader()
    stream = StreamReader(outer.protocol, max(len(body), 2**16), loop=asyncio.get_running_loop())
    stream.feed_data(body)
    stream.feed_eof()
    return stream
