"""`resource-engine mcp`: the SDK's stdio client launches the real command, which serves the same
tools as /mcp, acting with ENGINE_MCP_TOKEN (the engine in-process, or a running one with --url)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
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


async def test_a_url_that_is_not_the_endpoint_names_the_right_one(api, tmp_path):
    root = str(api.client.make_url("/"))
    env = engine_env(api.database_url, api.schema, ENGINE_MCP_TOKEN="t")
    done = await run_engine("--spec", str(ROOT / "resources.yaml"), "mcp", "--url", root, cwd=tmp_path, env=env)

    assert done.code == 1
    assert f"the engine serves MCP at /mcp: try --url {root.rstrip('/')}/mcp" in done.stderr
    assert "Traceback" not in done.output


def jsonrpc_lines(*messages: Any) -> bytes:
    """One message per line, as a client writes them (a `str` goes as it is: a malformed line)."""
    return b"".join((m.encode() if isinstance(m, str) else orjson.dumps(m)) + b"\n" for m in messages)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "script", "version": "1"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


async def piped(api: Any, tmp_path: Path, token: str, *messages: Any) -> dict[Any, Any]:
    """`resource-engine mcp` given `messages` on stdin, then end of input: its answers by id, and
    under "null ids" the list of those answered with a null id, in order."""
    env = engine_env(api.database_url, api.schema, **api.env, ENGINE_MCP_TOKEN=token)
    done = await run_engine(
        "--spec", str(ROOT / "resources.yaml"), "mcp", cwd=tmp_path, env=env, stdin=jsonrpc_lines(*messages)
    )
    assert done.code == 0, done.stderr
    answers = [orjson.loads(line) for line in done.stdout.splitlines()]
    return {answer["id"]: answer for answer in answers} | {"null ids": [a for a in answers if a["id"] is None]}


async def test_requests_piped_in_are_all_answered_before_the_command_exits(api, tmp_path):
    # The SDK closes the session at the end of input: a request still running was answered
    # "Connection closed". A script that pipes its requests in and closes stdin gets every answer.
    await api.as_user("alice")
    create = {"name": "agents_create", "arguments": {"data": {"name": "Piped"}}}
    answers = await piped(
        api,
        tmp_path,
        api.token("alice"),
        INITIALIZE,
        INITIALIZED,
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": create},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    )

    assert "result" in answers["init"]
    assert answers[1]["result"]["structuredContent"]["data"]["name"] == "Piped"
    assert "agents_create" in {tool["name"] for tool in answers[2]["result"]["tools"]}


async def test_each_malformed_line_is_answered_with_its_json_rpc_error_and_the_session_goes_on(api, tmp_path):
    # The SDK drops a line it cannot read without a word, and takes a request with a null id for a
    # notification: the client would wait for ever. Each gets /mcp's answer instead.
    await api.as_user("alice")
    answers = await piped(
        api,
        tmp_path,
        api.token("alice"),
        "not json",
        "",  # a blank line is skipped
        INITIALIZE,
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": [1]},
        {"jsonrpc": "1.0", "id": 3, "method": "tools/list"},
        [{"jsonrpc": "2.0", "id": 4, "method": "tools/list"}],
        {"jsonrpc": "2.0", "id": None, "method": "tools/list"},
        INITIALIZED,
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": [1]}},  # no such id
        {"jsonrpc": "2.0", "id": 5, "method": "tools/list"},
    )

    assert [(a["error"]["code"], a["error"]["message"].split(":")[0]) for a in answers["null ids"]] == [
        (-32700, "Parse error"),
        (-32600, "Invalid Request"),  # the batch
        (-32600, "Invalid Request"),  # the null id
    ]
    assert "batches are not supported" in answers["null ids"][1]["error"]["message"]
    assert "MCP allows no null id" in answers["null ids"][2]["error"]["message"]
    assert answers[1]["error"] == {
        "code": -32600,
        "message": 'Invalid Request: a message needs a "method" (a request or notification), '
        'or a "result" or "error" (a response)',
    }
    assert answers[2]["error"]["message"] == 'Invalid Request: "params" must be an object'
    assert answers[3]["error"]["message"] == 'Invalid Request: "jsonrpc" must be "2.0"'
    assert answers[5]["result"]["tools"], "the session went on after the malformed lines"
