"""/mcp: the MCP SDK's own client, over real HTTP, lists and calls the tools generated from the spec,
and is answered and refused exactly as the REST routes answer and refuse the same caller."""

from __future__ import annotations

import re

import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from mcp_support import LEGACY, MODERN, http_client, mcp_client, tool_names, without_request_id
from team_helpers import create_agent, share_agent, team_with_roles

AGENT_TOOLS = {"agents_list", "agents_get", "agents_create", "agents_update", "agents_delete"}


@pytest.mark.parametrize("mode", [LEGACY, MODERN])
async def test_both_protocol_eras_list_and_call_the_tools(api, mode):
    alice = await api.as_user("alice")
    async with mcp_client(api, api.token("alice"), mode=mode) as client:
        assert AGENT_TOOLS <= await tool_names(client)
        created = await client.call_tool("agents_create", {"data": {"name": "Helper"}})

    assert created.is_error is False
    stored = await alice.get(f"/api/agents/{created.structured_content['data']['id']}")
    assert created.structured_content == stored.json


async def test_the_tool_list_shows_only_the_actions_the_callers_roles_allow(api):
    await api.as_user("alice")
    async with mcp_client(api, api.token("alice")) as client:
        names = await tool_names(client)

    assert {"users_list", "users_get", "users_update"} <= names
    assert "users_create" not in names and "users_delete" not in names  # admins only (resources.yaml)


async def test_an_admin_sees_the_admin_only_tools(api):
    await api.as_admin()
    async with mcp_client(api, api.token("admin", ["admin"])) as client:
        assert {"users_create", "users_delete"} <= await tool_names(client)


async def test_an_anonymous_caller_sees_no_tool_where_rest_allows_nothing_anonymous(api):
    async with mcp_client(api) as client:
        assert await tool_names(client) == set()


async def test_a_session_cookie_is_listed_the_tools_of_an_anonymous_caller(api):
    """Tool calls never carry cookies (dispatch.py), so the list a cookie-signed-in browser gets is the
    anonymous one: it never shows a tool whose call would answer 401."""
    await api.as_user("alice")
    browser = api.anonymous
    signin = (await browser.get("/console/signin")).text
    form = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', signin).group(1), "token": api.token("alice")}
    assert (await browser.post("/console/signin", data=form, allow_redirects=False)).status == 303
    headers = {"X-CSRF-Token": (await browser.get("/auth/csrf")).json["csrf_token"], "Accept": "application/json"}
    listed = await browser.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers)

    assert listed.status == 200, listed.text
    assert listed.json["result"]["tools"] == []


async def test_a_tool_the_caller_may_not_use_is_refused_with_the_rest_routes_problem(api):
    alice = await api.as_user("alice")
    await api.as_user("bob")
    async with mcp_client(api, api.token("alice")) as client:
        refused = await client.call_tool("users_delete", {"id": "bob"})

    rest = await alice.delete("/api/users/bob")
    assert refused.is_error is True
    assert refused.structured_content["status"] == rest.status == 403
    assert without_request_id(refused.structured_content) == without_request_id(rest.json)


async def test_another_users_agent_is_not_found_through_every_tool(api):
    alice = await api.as_user("alice")
    bob = await api.as_user("bob")
    bobs = await create_agent(bob, "Bob's")
    async with mcp_client(api, api.token("alice")) as client:
        got = await client.call_tool("agents_get", {"id": bobs})
        updated = await client.call_tool("agents_update", {"id": bobs, "data": {"name": "Mine now"}})
        deleted = await client.call_tool("agents_delete", {"id": bobs})
        listed = await client.call_tool("agents_list", {})

    rest = await alice.get(f"/api/agents/{bobs}")
    assert rest.status == 404
    for answer in (got, updated, deleted):
        assert answer.is_error is True
        assert without_request_id(answer.structured_content) == without_request_id(rest.json)
    assert listed.structured_content["data"] == []
    assert (await bob.get(f"/api/agents/{bobs}")).json["data"]["name"] == "Bob's"


async def test_a_field_hidden_from_the_caller_is_absent_as_over_rest(api):
    team = await team_with_roles(api)
    agent = await create_agent(team.alice, "Shared", system_prompt="the owner's secret sauce")
    await share_agent(team.alice, team.id, agent)
    async with mcp_client(api, api.token("carol")) as client:  # a plain member: no system_prompt
        got = await client.call_tool("agents_get", {"id": agent})
        listed = await client.call_tool("agents_list", {"filter": {"id": agent}})

    rest = await team.carol.get(f"/api/agents/{agent}")
    assert "system_prompt" not in rest.json["data"]
    assert got.structured_content == rest.json
    assert listed.structured_content["data"] == [rest.json["data"]]
    assert "secret sauce" not in got.content[0].text + listed.content[0].text


async def test_a_write_only_secret_never_comes_back_through_a_tool(api):
    await api.as_user("alice")
    async with mcp_client(api, api.token("alice")) as client:
        created = await client.call_tool("agents_create", {"data": {"name": "A", "secrets": {"github": "ghp_x"}}})

    assert created.structured_content["data"]["secrets"] == {"github": "set"}
    assert "ghp_x" not in created.content[0].text


async def test_a_validation_error_is_the_rest_routes_422(api):
    alice = await api.as_user("alice")
    body = {"name": "", "status": "flying", "parameters": {"temperature": 9}}
    async with mcp_client(api, api.token("alice")) as client:
        refused = await client.call_tool("agents_create", {"data": body})

    rest = await alice.post("/api/agents", json=body)
    assert rest.status == 422
    assert refused.is_error is True
    assert without_request_id(refused.structured_content) == without_request_id(rest.json)


async def test_the_owner_comes_from_the_credentials_as_over_rest(api):
    alice = await api.as_user("alice")
    await api.as_user("bob")
    async with mcp_client(api, api.token("alice")) as client:
        refused = await client.call_tool("agents_create", {"data": {"name": "A", "user_id": "bob"}})

    rest = await alice.post("/api/agents", json={"name": "A", "user_id": "bob"})
    assert refused.is_error is True
    assert without_request_id(refused.structured_content) == without_request_id(rest.json)
    assert (await api.sql("select count(*) from agents"))[0][0] == 0


async def test_filters_sort_limit_and_cursor_page_as_the_rest_list(api):
    alice = await api.as_user("alice")
    for name in ("Cleo", "Abe", "Bea", "Dan"):
        await create_agent(alice, name, status="active" if name != "Dan" else "paused")
    arguments = {"filter": {"status": {"in": ["active"]}}, "sort": ["-name"], "limit": 2}
    async with mcp_client(api, api.token("alice")) as client:
        first = (await client.call_tool("agents_list", arguments)).structured_content
        cursor = first["meta"]["next_cursor"]
        second = (await client.call_tool("agents_list", {**arguments, "cursor": cursor})).structured_content

    rest = await alice.get("/api/agents?status[in]=active&sort=-name&limit=2")
    assert first == rest.json
    assert [a["name"] for a in first["data"] + second["data"]] == ["Cleo", "Bea", "Abe"]
    assert second["meta"]["next_cursor"] is None


async def test_fields_and_include_shape_the_row_as_over_rest(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "A")
    async with mcp_client(api, api.token("alice")) as client:
        got = await client.call_tool("agents_get", {"id": agent, "fields": ["id", "name"], "include": ["user"]})

    rest = await alice.get(f"/api/agents/{agent}?fields=id,name&include=user")
    assert rest.status == 200
    assert got.structured_content == rest.json


async def test_a_bad_query_is_the_rest_routes_400(api):
    alice = await api.as_user("alice")
    async with mcp_client(api, api.token("alice")) as client:
        refused = await client.call_tool("agents_list", {"filter": {"name": {"near": "x"}}})

    rest = await alice.get("/api/agents?name[near]=x")
    assert rest.status == 400
    assert without_request_id(refused.structured_content) == without_request_id(rest.json)


async def test_an_unknown_argument_is_a_400_tool_error_naming_it(api):
    await api.as_user("alice")
    async with mcp_client(api, api.token("alice")) as client:
        refused = await client.call_tool("agents_get", {"id": "x", "everything": True})

    assert refused.is_error is True
    assert refused.structured_content["status"] == 400
    assert "'everything'" in refused.structured_content["detail"]


async def test_an_unknown_tool_is_a_protocol_error(api):
    await api.as_user("alice")
    async with mcp_client(api, api.token("alice")) as client:
        with pytest.raises(MCPError, match="Unknown tool"):
            await client.call_tool("agents_launch", {})


async def test_update_and_delete_change_the_row_as_rest_does(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "Before")
    async with mcp_client(api, api.token("alice")) as client:
        updated = await client.call_tool("agents_update", {"id": agent, "data": {"name": "After"}})
        assert updated.structured_content["data"]["name"] == "After"
        deleted = await client.call_tool("agents_delete", {"id": agent})

    assert deleted.is_error is False
    assert (await alice.get(f"/api/agents/{agent}")).status == 404


async def test_a_tool_write_emits_the_event_the_rest_write_emits(api):
    alice = await api.as_user("alice")
    async with mcp_client(api, api.token("alice")) as client:
        created = await client.call_tool("agents_create", {"data": {"name": "Evented"}})
    agent = created.structured_content["data"]["id"]

    events = (await alice.get("/api/events?resource=agents")).json["data"]
    assert [(e["action"], e["record_id"], e["actor"]) for e in events] == [("created", agent, "alice")]


async def test_an_invalid_token_is_refused_with_401_before_any_tool(api):
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Authorization": "Bearer not-a-token", "Accept": "application/json, text/event-stream"}
    async with http_client() as http:
        answer = await http.post(str(api.client.make_url("/mcp")), json=message, headers=headers)

    assert answer.status_code == 401
    assert answer.headers["Content-Type"].startswith("application/problem+json")


async def test_a_tool_call_runs_with_the_mcp_requests_id(api):
    """The tool's request passes the engine's error boundary carrying the id of the MCP request."""
    await api.as_user("alice")
    async with mcp_client(api, api.token("alice"), headers={"X-Request-ID": "mcp-call-1"}) as client:
        refused = await client.call_tool("agents_get", {"id": "no-such-agent"})

    assert refused.structured_content["status"] == 404
    assert refused.structured_content["request_id"] == "mcp-call-1"


async def post_raw(api, content: bytes, headers: dict[str, str]) -> httpx2.Response:
    async with http_client() as http:
        return await http.post(str(api.client.make_url("/mcp")), content=content, headers=headers)


async def test_a_message_that_is_not_json_is_a_415_problem(api, expect_problem):
    headers = {"Authorization": f"Bearer {api.token('alice')}", "Content-Type": "text/plain"}
    answer = await post_raw(api, b"tools/list", headers)

    assert answer.status_code == 415
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert "application/json" in answer.json()["detail"]


async def test_the_transports_bare_refusals_are_problems(api):
    """The SDK answers a few refusals with a bare status, no JSON-RPC error (here: a 2026-07-28
    subscriptions/listen, a stream, from a client that accepts only JSON); the endpoint turns them
    into problems like every other error of the API."""
    message = b'{"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen", "params": {}}'
    headers = {"Authorization": f"Bearer {api.token('alice')}", "Content-Type": "application/json"}
    headers.update({"Accept": "application/json", "MCP-Protocol-Version": "2026-07-28"})
    answer = await post_raw(api, message, headers)

    assert answer.status_code == 406
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json()["status"] == 406


@pytest.mark.parametrize(
    "arguments",
    [
        '{"filter": {"name": "\\ud800"}}',  # a lone surrogate
        '{"data": {"name": "x", "parameters": {"temperature": NaN}}}',
        '{"filter": {"name": Infinity}}',
        '{"filter": {"\\u0000": 1}, "sort": ["\\u0000"]}',
        '{"id": 100000000000000000000000000000000000, "data": {}}',
        '{"id": "../users/alice", "data": {"name": "x"}}',
    ],
)
async def test_hostile_arguments_get_a_refusal_never_an_internal_error(api, arguments):
    await api.as_user("alice")
    tool = "agents_update" if '"id"' in arguments else ("agents_create" if '"data"' in arguments else "agents_list")
    message = '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "%s", "arguments": %s}}'
    headers = {"Authorization": f"Bearer {api.token('alice')}", "Content-Type": "application/json"}
    headers.update({"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"})
    answer = await post_raw(api, (message % (tool, arguments)).encode(), headers)

    assert answer.status_code in (200, 400), answer.text
    reply = answer.json()
    if "error" in reply:
        assert reply["error"]["code"] != -32603, reply  # INTERNAL_ERROR
    else:
        assert reply["result"]["isError"] is True
        assert 400 <= reply["result"]["structuredContent"]["status"] < 500


MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(
    ("message", "reason", "answer_id"),
    [
        ('{"jsonrpc": "2.0", "id": null, "method": "tools/list"}', '"id" must be a string or an integer', None),
        ('{"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"}', '"id" must be a string or an integer', None),
        ('{"jsonrpc": "2.0", "id": true, "method": "tools/list"}', '"id" must be a string or an integer', None),
        ('{"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"}', '"id" must be a string or an integer', None),
        ('[{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]', "batches are not supported", None),
        ('"tools/list"', "a JSON-RPC message is an object", None),
        ('{"id": 7, "method": "tools/list"}', '"jsonrpc" must be "2.0"', 7),
        ('{"jsonrpc": "2.0", "id": "a", "method": 5}', '"method" must be a string', "a"),
        ('{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": "x"}', '"params" must be an object', 2),
        ('{"jsonrpc": "2.0", "id": 3}', 'needs a "method"', 3),
    ],
)
async def test_an_invalid_request_is_answered_as_one_never_taken_for_a_notification(api, message, reason, answer_id):
    """JSON-RPC's Invalid Request (-32600, HTTP 400), with the id when one could be read and the
    reason in words: the SDK took a request with a null or object id for a notification (202, no
    answer) and answered the others with its data model's validation dump."""
    headers = {"Authorization": f"Bearer {api.token('alice')}", **MCP_HEADERS}
    answer = await post_raw(api, message.encode(), headers)

    assert answer.status_code == 400, answer.text
    reply = answer.json()
    assert reply["id"] == answer_id and reply["error"]["code"] == -32600
    assert reason in reply["error"]["message"] and "JSONRPCRequest" not in reply["error"]["message"]


async def test_a_notification_and_a_response_still_go_to_the_sdk(api):
    headers = {"Authorization": f"Bearer {api.token('alice')}", **MCP_HEADERS}
    notification = b'{"jsonrpc": "2.0", "method": "notifications/initialized"}'
    for message in (notification, b'{"jsonrpc": "2.0", "id": 1, "result": {}}'):
        assert (await post_raw(api, message, headers)).status_code == 202
