"""The tools of the nested relation routes (`teams_members_list`, `teams_agents_add`, ...) and `me`,
through the MCP SDK's own client: they answer and refuse exactly as the REST routes they name
answer and refuse the same caller, and are listed only to callers whose roles and scopes allow them."""

from __future__ import annotations

from mcp_support import mcp_client, tool_names, without_request_id
from team_helpers import create_agent, invite, share_agent, team_with_roles

from engine.testing import ApiClient

CALLERS = ("alice", "bob", "carol", "dave")  # the team's owner, admin, member, and an outsider
READ_TOOLS = {"teams_members_list", "teams_members_get", "teams_agents_list", "teams_agents_get"}
WRITE_TOOLS = {
    "teams_members_add",
    "teams_members_update",
    "teams_members_remove",
    "teams_agents_add",
    "teams_agents_remove",
    "teams_members_accept",
    "teams_members_decline",
}


def shown(document):
    """A body to compare: no request id (each request has its own)."""
    return without_request_id(document)


async def callers_of(api, team):
    callers = {name: (getattr(team, name), api.token(name)) for name in CALLERS}
    callers["admin"] = (await api.as_admin(), api.token("admin", ["admin"]))
    return callers


async def key_of(client, scopes: list[str]) -> str:
    created = await client.post("/api/me/api-keys", json={"name": "mcp", "scopes": scopes})
    assert created.status == 201, created.text
    return created.json["data"]["key"]


async def test_a_signed_in_user_sees_the_relation_tools_and_me(api):
    await api.as_user("alice")
    async with mcp_client(api, api.token("alice")) as client:
        assert READ_TOOLS | WRITE_TOOLS | {"me", "my_invitations"} <= await tool_names(client)


async def test_the_agents_relation_has_no_update_tool_as_its_route_has_no_patch(api):
    await api.as_user("alice")
    async with mcp_client(api, api.token("alice")) as client:
        assert "teams_agents_update" not in await tool_names(client)


async def test_sharing_listing_and_unsharing_through_the_tools_is_what_the_nested_routes_do(api):
    team = await team_with_roles(api)
    agent = await create_agent(team.alice, "Shared")
    async with mcp_client(api, api.token("alice")) as client:
        added = await client.call_tool("teams_agents_add", {"id": team.id, "data": {"agent_id": agent}})
        listed = await client.call_tool("teams_agents_list", {"id": team.id, "fields": ["agent_id"]})
        assert shown(listed.structured_content) == shown(
            (await team.alice.get(f"{team.url}/agents?fields=agent_id")).json
        )
        removed = await client.call_tool("teams_agents_remove", {"id": team.id, "agent_id": agent})

    assert added.is_error is False and added.structured_content["data"]["agent_id"] == agent
    assert [row["agent_id"] for row in listed.structured_content["data"]] == [agent]
    assert removed.is_error is False
    assert (await team.alice.get(f"{team.url}/agents")).json["data"] == []


async def test_every_caller_reads_a_teams_links_through_the_tools_exactly_as_over_rest(api):
    team = await team_with_roles(api)
    await share_agent(team.alice, team.id, await create_agent(team.alice, "Shared"))
    seen = set()
    for rest, token in (await callers_of(api, team)).values():
        async with mcp_client(api, token) as client:
            for relation in ("members", "agents"):
                listed = await client.call_tool(f"teams_{relation}_list", {"id": team.id})
                direct = await rest.get(f"{team.url}/{relation}")
                assert shown(listed.structured_content) == shown(direct.json)
                seen.add(direct.status)
            got = await client.call_tool("teams_members_get", {"id": team.id, "user_id": "carol"})
            direct = await rest.get(f"{team.url}/members/carol")
            assert shown(got.structured_content) == shown(direct.json)
    assert seen == {200, 404}  # members and the admin read the links; the outsider finds no team


async def test_every_caller_may_share_and_unshare_through_the_tools_exactly_where_rest_lets_them(api):
    team = await team_with_roles(api)
    seen = set()
    for name, (rest, token) in (await callers_of(api, team)).items():
        mine = [await create_agent(rest, f"{name}'s {n}") for n in range(2)]
        alices = [await create_agent(team.alice, f"for {name} {n}") for n in range(2)]
        for agent in alices:
            await share_agent(team.alice, team.id, agent)
        async with mcp_client(api, token) as client:
            added = await client.call_tool("teams_agents_add", {"id": team.id, "data": {"agent_id": mine[0]}})
            removed = await client.call_tool("teams_agents_remove", {"id": team.id, "agent_id": alices[0]})
        direct_add = await rest.post(f"{team.url}/agents", json={"agent_id": mine[1]})
        direct_remove = await rest.delete(f"{team.url}/agents/{alices[1]}")
        assert added.is_error is (direct_add.status >= 400)
        assert removed.is_error is (direct_remove.status >= 400)
        if direct_add.status >= 400:
            assert shown(added.structured_content) == shown(direct_add.json)
        if direct_remove.status >= 400:
            assert shown(removed.structured_content) == shown(direct_remove.json)
        seen |= {direct_add.status, direct_remove.status}
    assert {201, 204, 403, 404} <= seen  # shared and unshared; a member may not; an outsider finds no team


async def test_a_team_admin_changes_a_members_role_through_the_update_tool(api):
    team = await team_with_roles(api)
    async with mcp_client(api, api.token("bob")) as client:
        changed = await client.call_tool(
            "teams_members_update", {"id": team.id, "user_id": "carol", "data": {"role": "admin"}}
        )

    assert changed.is_error is False
    assert (await team.alice.get(f"{team.url}/members/carol")).json["data"]["role"] == "admin"


async def test_adding_a_member_through_the_tool_is_an_invitation_as_over_rest(api):
    team = await team_with_roles(api)
    await api.as_user("erin")
    async with mcp_client(api, api.token("alice")) as client:
        invited = await client.call_tool("teams_members_add", {"id": team.id, "data": {"user_id": "erin"}})

    assert invited.is_error is False
    assert invited.structured_content["data"]["status"] == "pending"
    assert (await team.alice.get(f"{team.url}/members/erin")).status == 404  # pending: not a member yet


async def test_a_read_scoped_key_sees_the_read_relation_tools_only_and_is_refused_as_over_rest(api):
    team = await team_with_roles(api)
    key = await key_of(team.alice, ["teams:read"])
    agent = await create_agent(team.alice)
    async with mcp_client(api, headers={"X-API-Key": key}) as client:
        names = await tool_names(client)
        refused = await client.call_tool("teams_agents_add", {"id": team.id, "data": {"agent_id": agent}})

    direct = await ApiClient(api.client, {"X-API-Key": key}).post(f"{team.url}/agents", json={"agent_id": agent})
    assert READ_TOOLS <= names and not names & WRITE_TOOLS
    assert refused.is_error is True and direct.status == 403
    assert shown(refused.structured_content) == shown(direct.json)


async def test_the_me_tool_answers_what_get_api_me_answers(api):
    alice = await api.as_user("alice")
    async with mcp_client(api, api.token("alice")) as client:
        me = await client.call_tool("me", {})

    assert me.is_error is False
    assert shown(me.structured_content) == shown((await alice.get("/api/me")).json)
    assert me.structured_content["data"]["id"] == "alice"


async def test_an_api_key_is_its_owner_to_the_me_tool(api):
    alice = await api.as_user("alice")
    key = await key_of(alice, ["users:read"])
    async with mcp_client(api, headers={"X-API-Key": key}) as client:
        me = await client.call_tool("me", {})

    assert me.structured_content["data"]["id"] == "alice"


async def test_an_anonymous_caller_has_no_me_tool_and_gets_the_routes_401(api):
    async with mcp_client(api) as client:
        assert "me" not in await tool_names(client)
        refused = await client.call_tool("me", {})

    direct = await api.anonymous.get("/api/me")
    assert refused.is_error is True and direct.status == 401
    assert shown(refused.structured_content) == shown(direct.json)


async def test_a_key_without_users_read_has_no_me_tool_and_gets_the_routes_403(api):
    alice = await api.as_user("alice")
    key = await key_of(alice, ["agents:read"])
    async with mcp_client(api, headers={"X-API-Key": key}) as client:
        assert "me" not in await tool_names(client)
        refused = await client.call_tool("me", {})

    direct = await ApiClient(api.client, {"X-API-Key": key}).get("/api/me")
    assert refused.is_error is True and direct.status == 403
    assert shown(refused.structured_content) == shown(direct.json)


async def test_an_invitee_lists_and_accepts_their_invitation_through_the_tools_as_over_rest(api):
    team = await team_with_roles(api)
    erin = await api.as_user("erin")
    await invite(team.alice, team.id, "erin")
    async with mcp_client(api, api.token("erin")) as client:
        mine = await client.call_tool("my_invitations", {})
        assert shown(mine.structured_content) == shown((await erin.get("/api/me/invitations")).json)
        accepted = await client.call_tool("teams_members_accept", {"id": team.id, "user_id": "erin"})

    assert [item["team"]["id"] for item in mine.structured_content["data"]] == [team.id]
    assert accepted.is_error is False and accepted.structured_content["data"]["status"] == "active"
    assert (await team.alice.get(f"{team.url}/members/erin")).status == 200


async def test_an_invitee_declines_through_the_tool_and_the_invitation_is_gone(api):
    team = await team_with_roles(api)
    erin = await api.as_user("erin")
    await invite(team.alice, team.id, "erin")
    async with mcp_client(api, api.token("erin")) as client:
        declined = await client.call_tool("teams_members_decline", {"id": team.id, "user_id": "erin"})

    assert declined.is_error is False
    assert (await erin.get("/api/me/invitations")).json["data"] == []


async def test_answering_someone_elses_invitation_is_refused_as_over_rest(api):
    team = await team_with_roles(api)
    await api.as_user("erin")
    await invite(team.alice, team.id, "erin")
    async with mcp_client(api, api.token("dave")) as client:
        refused = await client.call_tool("teams_members_accept", {"id": team.id, "user_id": "erin"})

    direct = await team.dave.post(f"{team.url}/members/erin/accept")
    assert refused.is_error is True and direct.status == 404
    assert shown(refused.structured_content) == shown(direct.json)
