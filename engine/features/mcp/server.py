"""The MCP server of an app: the SDK's low-level `Server`, its tools listed and called per caller.

`tools/list` shows the tools whose actions the caller's roles allow (the `authorize` hook, as the
REST routes ask it; each tool says which actions it needs: `Tool.allowed`). `tools/call` sends the
tool's REST request through the app (dispatch.py) and answers what the route answered: the JSON
body as text (and as structured content), or the route's problem with `isError`. Row rules, field
rules, validation, hooks and events are the route's own, so there is nothing here to keep in step with them.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

import mcp_types as types
import orjson
import pluggy
from aiohttp import web
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from engine.features.mcp.bridge import ENGINE_REQUEST
from engine.features.mcp.catalog import Catalog
from engine.features.mcp.dispatch import Answer, dispatch
from engine.features.mcp.tools import Tool
from engine.http.keys import IDENTITY, REQUEST_ID
from engine.http.responses import problem_response
from engine.kernel.errors import Problem
from engine.resources.access import may
from engine.spec import Resource

NAME = "resource-engine"
INSTRUCTIONS = (
    "Tools for this API's resources: one per resource and action you may use ({resource}_list, _get, "
    "_create, _update, _delete), the links of each relation ({resource}_{relation}_list, _get, _add, "
    "_update, _remove) and me (who you are). Results are the REST API's JSON; errors are its RFC 9457 "
    "problems, with isError set. A row you may not see is not found."
)


def version() -> str:
    """The installed engine's version, as the server's `serverInfo` says it."""
    try:
        return importlib.metadata.version(NAME)
    except importlib.metadata.PackageNotFoundError:
        return ""


def build_server(catalog: Catalog, pm: pluggy.PluginManager) -> Server[Any]:
    """The SDK server whose handlers answer from `catalog`, asking `pm`'s hooks about the caller."""

    async def list_tools(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        _, outer = _engine_request(ctx)
        identity = outer.get(IDENTITY)
        if identity is not None and identity.via == "session":
            identity = None  # tool calls never carry the cookie (dispatch.py): list what they can do, as anonymous

        async def ask(resource: Resource, action: str) -> bool:
            return await may(pm, outer, resource, action, identity)

        tools = [t.tool for t in catalog if await t.allowed(ask, identity)]
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = catalog.get(params.name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name[:100]}")
        app, outer = _engine_request(ctx)
        try:
            call = tool.call(params.arguments)
        except Problem as problem:
            response = problem_response(problem, outer.get(REQUEST_ID, ""))
            return _result(tool, Answer(response.status, response.headers, response.body), params.arguments)
        return _result(tool, await dispatch(app, outer, call), params.arguments)

    return Server(
        NAME,
        version=version(),
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=catalog.input_schema,
    )


def _engine_request(ctx: ServerRequestContext) -> tuple[web.Application, web.Request]:
    """The app and the MCP request (authenticated by the middlewares), as the endpoint put them in the scope."""
    scope = getattr(ctx.request, "scope", None) or {}
    if ENGINE_REQUEST not in scope:
        raise MCPError(types.INTERNAL_ERROR, "this server answers through the engine's /mcp endpoint only")
    return scope[ENGINE_REQUEST]


def _result(tool: Tool, answer: Answer, arguments: Mapping[str, Any] | None) -> types.CallToolResult:
    """The REST answer as a tool result: its JSON as text and structured content; errors flagged."""
    if not answer.body:  # 204 after a delete
        text = tool.done(arguments, answer.status)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])
    try:
        document = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        document = None
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=answer.body.decode("utf-8", "replace"))],
        structured_content=document if isinstance(document, dict) else None,
        is_error=answer.status >= 400,
    )
