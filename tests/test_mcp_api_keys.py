"""An authentication plugin of the project's own (the API-key example, tests/plugins/api_keys.py, on the
`identity_from_request` hook) signs MCP callers in with no MCP code: the tool calls carry its header."""

from __future__ import annotations

import api_keys_example_support as example
from mcp_support import http_client, mcp_client, tool_names

engine_spec_path = example.engine_spec_path
engine_plugins = example.engine_plugins
keys = example.keys


async def test_an_api_key_lists_and_calls_its_users_tools(api, keys):
    headers = {"Authorization": f"ApiKey {keys['alice']}"}
    async with mcp_client(api, headers=headers) as client:
        assert {"notes_list", "notes_create"} <= await tool_names(client)
        created = await client.call_tool("notes_create", {"data": {"text": "via MCP"}})

    assert created.structured_content["data"]["user_id"] == "alice"


async def test_an_api_key_reaches_only_its_users_rows(api, keys):
    async with mcp_client(api, headers={"Authorization": f"ApiKey {keys['bob']}"}) as client:
        bobs = (await client.call_tool("notes_create", {"data": {"text": "bob's"}})).structured_content["data"]
    async with mcp_client(api, headers={"Authorization": f"ApiKey {keys['alice']}"}) as client:
        got = await client.call_tool("notes_get", {"id": bobs["id"]})

    assert got.is_error is True and got.structured_content["status"] == 404


async def test_an_unknown_api_key_is_the_plugins_401_before_any_tool(api, keys):
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Authorization": "ApiKey ak_guessed", "Accept": "application/json, text/event-stream"}
    async with http_client() as http:
        answer = await http.post(str(api.client.make_url("/mcp")), json=message, headers=headers)

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'ApiKey realm="api"'
    assert "ak_guessed" not in answer.text
