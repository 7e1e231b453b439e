"""The MCP SDK loads on the first `/mcp` request only (engine/features/mcp/runtime.py): a worker that
never serves MCP does not carry it (about 30 MB resident)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

from mcp_support import mcp_client, tool_names

BUILD_THE_APP = textwrap.dedent(
    """
    import sys
    from engine.http.app import create_app
    from engine.kernel.config import Config
    from engine.spec import load_spec

    spec = load_spec("resources.yaml")
    env = {"ENGINE_JWT_SECRET": "x" * 32, "ENGINE_SESSION_SECRET": "y" * 44, "ENGINE_ENV": "development"}
    create_app(spec, Config.from_env(spec, env=env, database_url="postgresql://nowhere/db"))
    loaded = sorted(m for m in sys.modules if m == "mcp" or m.startswith(("mcp.", "mcp_types", "starlette")))
    print(loaded)
    """
)


def test_building_the_app_does_not_import_the_mcp_sdk():
    result = subprocess.run([sys.executable, "-c", BUILD_THE_APP], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


async def test_concurrent_first_mcp_requests_all_succeed(api):
    async def list_tools() -> set[str]:
        async with mcp_client(api, api.token("alice")) as client:
            return await tool_names(client)

    results = await asyncio.gather(*(list_tools() for _ in range(5)))
    assert all("agents_list" in names for names in results)
    assert len({frozenset(names) for names in results}) == 1
