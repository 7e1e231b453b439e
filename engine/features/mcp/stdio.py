"""`resource-engine mcp`: the same MCP tools on stdin/stdout, for clients that launch a command.

The tools are the `/mcp` endpoint's: this command starts the engine in-process, listening on a
unix socket in a private directory (or, with `--url`, uses a server already running), and forwards
`tools/list` and `tools/call` to that endpoint with the SDK's own client, carrying the credential
from ENGINE_MCP_TOKEN. Authentication, tool visibility and every tool call are therefore decided
exactly as over HTTP, by one implementation. The SDK's `stdio_server` keeps stray prints of the
engine or a plugin off the protocol stream (they go to stderr, as do the logs).

The lines read from stdin are screened before the SDK reads them (`Screened`): a line the SDK would
drop without an answer, or take for a notification, gets JSON-RPC's error as /mcp gives it; and at
the end of input every request still running is answered before the command exits, so a script
piping its requests in gets all its answers.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import fcntl
import io
import logging
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from types import TracebackType
from typing import Any

import anyio
import httpx2
import mcp_types as types
import orjson
from aiohttp import web
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from engine.features.mcp.envelope import INVALID_REQUEST, PARSE_ERROR, answer_id, error, refusal, valid_id
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
        out.error(f"resource-engine mcp: {_reason(exc)}" + (f" (at {args.url})" if args.url else "") + _hint(args.url))
        return 1
    return 0


def _hint(url: str | None) -> str:
    """A URL that is not the endpoint's (a server's root): the engine serves MCP at /mcp."""
    if url is None or httpx2.URL(url).path.rstrip("/").endswith("/mcp"):
        return ""
    return f"; the engine serves MCP at /mcp: try --url {url.rstrip('/')}/mcp"


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
        with _stdin_claimed() as wire:
            lines = Screened(anyio.wrap_file(io.TextIOWrapper(wire, encoding="utf-8", errors="replace")))
            async with stdio_server(stdin=lines) as (read_stream, write_stream):
                lines.answer_on(write_stream)
                await server.run(read_stream, Answered(write_stream, lines), server.create_initialization_options())


@contextlib.contextmanager
def _stdin_claimed() -> Iterator[io.BufferedReader]:
    """The protocol's stdin on a descriptor of its own, fd 0 reading the null device meanwhile (as
    the SDK's `stdio_server` does when it reads stdin itself): nothing else in the process, nor a
    child it starts, can consume the client's bytes. The duplicate is never closed: a reading
    thread may still block on it after the transport ends, and the process ends soon after."""
    wire = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        yield os.fdopen(wire, "rb", closefd=False)
    finally:
        os.dup2(wire, 0)


class Screened:
    """stdin's lines for the SDK's stdio transport, less those it would drop or misread.

    - A blank line is skipped.
    - A line that is not JSON is answered with Parse error (-32700, id null); one whose envelope is
      not sound (engine.features.mcp.envelope), or that is not an MCP message, with Invalid Request
      (-32600) and its id when it has a valid one. The SDK would answer neither, or take a request
      with a null id for a notification, and its client would wait for ever.
    - At the end of input, the requests in flight are awaited (at most `DRAIN_SECONDS`, a tool
      call's own limit) before the transport closes: the SDK would answer them "Connection closed".
    """

    DRAIN_SECONDS = TIMEOUT.read

    def __init__(self, source: AsyncIterable[str]) -> None:
        self._source = source
        self._in_flight: collections.Counter[str | int] = collections.Counter()
        self._settled = asyncio.Event()
        self._settled.set()
        self._answers: Any = None
        self._attached = asyncio.Event()

    def answer_on(self, write_stream: Any) -> None:
        """Where refusals are written: the transport's own stream to stdout (once it is up)."""
        self._answers = write_stream
        self._attached.set()

    def answered(self, request_id: str | int | None) -> None:
        if request_id is not None and self._in_flight[request_id] > 0:
            self._in_flight[request_id] -= 1
            if self._in_flight[request_id] == 0:
                del self._in_flight[request_id]
            if not self._in_flight:
                self._settled.set()

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in self._source:
            if not line.strip():
                continue
            answer = self._refusal(line)
            if answer is not None:
                await self._attached.wait()
                await self._answers.send(SessionMessage(types.JSONRPCError.model_validate(answer)))
                continue
            yield line
        with anyio.move_on_after(self.DRAIN_SECONDS):
            await self._settled.wait()

    def _refusal(self, line: str) -> dict[str, Any] | None:
        """The error answering `line`, or None after noting a request it carries as in flight."""
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return error(None, PARSE_ERROR, f"Parse error: {exc}")
        refused = refusal(message)
        if refused is not None:
            return refused
        try:
            types.jsonrpc_message_adapter.validate_python(message, by_name=False)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"][1:])  # past the union member's name
            reason = f"{where}: {first['msg']}" if where else first["msg"]
            return error(answer_id(message), INVALID_REQUEST, f"Invalid Request: {reason}")
        if "id" in message and "method" in message:
            self._in_flight[message["id"]] += 1
            self._settled.clear()
        elif message.get("method") == "notifications/cancelled":  # a cancelled request gets no answer
            cancelled = (message.get("params") or {}).get("requestId")
            if valid_id(cancelled):
                self.answered(cancelled)
        return None


class Answered:
    """The transport's write stream (the SDK's `WriteStream` protocol), telling `Screened` which
    requests were answered: a response or an error carrying their id."""

    def __init__(self, stream: Any, lines: Screened) -> None:
        self._stream, self._lines = stream, lines

    async def send(self, item: SessionMessage, /) -> None:
        await self._stream.send(item)
        if isinstance(item.message, types.JSONRPCResponse | types.JSONRPCError):
            self._lines.answered(item.message.id)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> Answered:
        await self._stream.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._stream.__aexit__(exc_type, exc, tb)


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
