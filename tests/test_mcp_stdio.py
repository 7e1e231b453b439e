"""`resource-engine mcp`: the SDK's stdio client launches the real command, which serves the same
tools as /mcp, acting with ENGINE_MCP_TOKEN (the engine in-process, or a running one with --url)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import unused_port
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_support import tool_names
from process_support import engine_env, run_engine
from team_helpers import create_agent

ROOT = Path(__file__).resolve().parents[1]


@contextlib.asynccontextmanager
async def stdio_mcp(api: Any, tmp_path: Path, token: str, *extra: str) -> AsyncIterator[Client]:
    """`resource-engine mcp` on the test's database schema, as an MCP client would launch it."""
    env = engine_env(api.database_url, api.schema, **api.env, ENGINE_MCP_TOKEN=token)
    command = StdioServerParameters(
        command=sys.executable, args=["-m", "engine", "--spec", str(ROOT / "resources.yaml"), "mcp", *extra], env=env
    )
    errors = tmp_path / "stderr.log"
    with errors.open("w") as errlog:
        try:
            async with Client(stdio_client(command, errlog=errlog), cache=None) as client:
                yield client
        except BaseException as exc:
            raise AssertionError(f"resource-engine mcp failed; its stderr:\n{errors.read_text()}") from exc


async def test_the_command_serves_the_callers_tools_and_writes_as_them(api, tmp_path):
    alice = await api.as_user("alice")
    async with stdio_mcp(api, tmp_path, api.token("alice")) as client:
        names = await tool_names(client)
        created = await client.call_tool("agents_create", {"data": {"name": "From stdio"}})

    assert {"agents_list", "agents_create", "users_get"} <= names and "users_delete" not in names
    stored = await alice.get(f"/api/agents/{created.structured_content['data']['id']}")
    assert stored.json == created.structured_content
    assert stored.json["data"]["user_id"] == "alice"


async def test_the_command_refuses_another_users_row_as_rest_does(api, tmp_path):
    await api.as_user("alice")
    bobs = await create_agent(await api.as_user("bob"), "Bob's")
    async with stdio_mcp(api, tmp_path, api.token("alice")) as client:
        got = await client.call_tool("agents_get", {"id": bobs})

    assert got.is_error is True
    assert got.structured_content["status"] == 404


async def test_with_url_the_command_forwards_to_a_running_server(api, tmp_path):
    await api.as_admin()
    url = str(api.client.make_url("/mcp"))
    async with stdio_mcp(api, tmp_path, api.token("admin", ["admin"]), "--url", url) as client:
        assert {"users_create", "users_delete"} <= await tool_names(client)


async def test_an_unreachable_url_is_one_line_and_exit_code_1(api, tmp_path):
    env = engine_env(api.database_url, api.schema, ENGINE_MCP_TOKEN="t")
    closed = f"http://127.0.0.1:{unused_port()}/mcp"
    done = await run_engine("--spec", str(ROOT / "resources.yaml"), "mcp", "--url", closed, cwd=tmp_path, env=env)

    assert done.code == 1
    assert f"resource-engine mcp: ConnectError: All connection attempts failed (at {closed})" in done.stderr
    assert "Traceback" not in done.output
