"""For every caller of the example's access model (owner, team admin, member, outsider, admin) and
every row, the MCP tools answer exactly what the REST routes answer that caller: the same rows, the
same fields, the same refusals."""

from __future__ import annotations

from mcp_support import mcp_client, without_request_id
from team_helpers import create_agent, share_agent, team_with_roles

USERS = ("alice", "bob", "carol", "dave")


def shown(document):
    """A body to compare: no request id (each request has its own), no write time (each write moves it)."""
    document = without_request_id(document)
    if isinstance(document, dict) and isinstance(document.get("data"), dict):
        document = {**document, "data": {k: v for k, v in document["data"].items() if k != "updated_at"}}
    return document


async def setup(api):
    team = await team_with_roles(api)
    shared = await create_agent(team.alice, "Shared", system_prompt="alice's prompt")
    await share_agent(team.alice, team.id, shared)
    private = await create_agent(team.dave, "Dave's", system_prompt="dave's prompt")
    callers = {name: (getattr(team, name), api.token(name)) for name in USERS}
    callers["admin"] = (await api.as_admin(), api.token("admin", ["admin"]))
    rows = {"agents": [shared, private], "teams": [team.id], "users": list(USERS)}
    return callers, rows


async def test_every_caller_reads_through_the_tools_exactly_what_rest_gives_them(api):
    callers, rows = await setup(api)
    seen = set()
    for rest, token in callers.values():
        async with mcp_client(api, token) as client:
            for resource, ids in rows.items():
                listed = await client.call_tool(f"{resource}_list", {"limit": 100})
                assert shown(listed.structured_content) == shown((await rest.get(f"/api/{resource}?limit=100")).json)
                for row in ids:
                    got = await client.call_tool(f"{resource}_get", {"id": row})
                    direct = await rest.get(f"/api/{resource}/{row}")
                    assert shown(got.structured_content) == shown(direct.json)
                    seen.add((direct.status, "system_prompt" in (direct.json.get("data") or {"system_prompt": 1})))
    assert {(200, True), (200, False), (404, True)} <= seen  # rows shown whole, with a hidden field, and hidden


async def test_every_caller_may_change_through_the_tools_exactly_what_rest_lets_them(api):
    callers, rows = await setup(api)
    seen = set()
    for rest, token in callers.values():
        async with mcp_client(api, token) as client:
            for row in rows["agents"]:
                changed = await client.call_tool("agents_update", {"id": row, "data": {"status": "active"}})
                direct = await rest.patch(f"/api/agents/{row}", json={"status": "active"})
                assert changed.is_error is (direct.status >= 400)
                assert shown(changed.structured_content) == shown(direct.json)
                seen.add(direct.status)
    assert {200, 403, 404} <= seen  # changed, visible but not theirs to change, and not visible
