"""The MCP SDK loads on the first `/mcp` request only (engine/features/mcp/runtime.py; that building
the app does not load it is in test_lazy_imports.py): concurrent first requests all get it."""

from __future__ import annotations

import asyncio

from mcp_support import mcp_client, tool_names


async def test_concurrent_first_mcp_requests_all_succeed(api):
    async def list_tools() -> set[str]:
        async with mcp_client(api, api.token("alice")) as client:
            return await tool_names(client)

    results = await asyncio.gather(*(list_tools() for _ in range(5)))
    assert all("agents_list" in names for names in results)
    assert len({frozenset(names) for names in results}) == 1
