"""Connecting the MCP SDK's own client to an engine: over HTTP (`/mcp`) or stdio (`resource-engine mcp`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

LEGACY, MODERN = "legacy", "2026-07-28"  # the handshake era (initialize) and the stateless era
# The SDK's own clients wait 30 s for an answer (its MCP_DEFAULT_TIMEOUT); httpx's default of 5 s was a
# timed assertion no test meant to make, and a loaded CI machine once took longer (a ReadTimeout).
TIMEOUT = httpx2.Timeout(30.0)


def http_client(**options: Any) -> httpx2.AsyncClient:
    """An HTTP client for /mcp, waiting as long as the SDK's own clients do."""
    return httpx2.AsyncClient(timeout=TIMEOUT, **options)


@contextlib.asynccontextmanager
async def mcp_client(
    api: Any, token: str | None = None, *, mode: str = "auto", headers: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """The SDK's client on the test server's /mcp (real HTTP on loopback), acting with `token`."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with http_client(headers=sent) as http:
        transport = streamable_http_client(str(api.client.make_url("/mcp")), http_client=http)
        async with Client(transport, mode=mode, cache=None) as client:
            yield client


async def tool_names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


def without_request_id(document: Any) -> Any:
    """A problem body minus its request id (each request has its own)."""
    if isinstance(document, dict):
        return {k: v for k, v in document.items() if k != "request_id"}
    return document
