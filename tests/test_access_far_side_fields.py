"""Field rules hold on the far-side rows that links carry: a shared agent embedded through its team
(`include=agents`, `GET /api/teams/{id}/agents`) shows `system_prompt` to the team's owner and admins
only, exactly as `GET /api/agents/{id}` does; secrets stay masked there too."""

from __future__ import annotations

from team_helpers import create_agent, share_agent, team_with_roles


async def shared_agent(api):
    team = await team_with_roles(api)
    agent_id = await create_agent(team.alice, "Shared", system_prompt="be brief", secrets={"github": "ghp_x"})
    await share_agent(team.alice, team.id, agent_id)
    return team, agent_id


def embedded_agent(team_body: dict) -> dict:
    [link] = team_body["agents"]
    return link["agent"]


async def test_a_member_sees_the_embedded_agent_without_its_system_prompt(api):
    team, agent_id = await shared_agent(api)
    agent = embedded_agent((await team.carol.get(f"{team.url}?include=agents")).json["data"])
    assert agent["id"] == agent_id and "system_prompt" not in agent


async def test_a_team_admin_sees_the_embedded_agents_system_prompt(api):
    team, _ = await shared_agent(api)
    agent = embedded_agent((await team.bob.get(f"{team.url}?include=agents")).json["data"])
    assert agent["system_prompt"] == "be brief"


async def test_the_nested_route_hides_the_system_prompt_from_a_member_only(api):
    team, _ = await shared_agent(api)
    [as_member] = (await team.carol.get(f"{team.url}/agents")).json["data"]
    [as_owner] = (await team.alice.get(f"{team.url}/agents")).json["data"]
    assert "system_prompt" not in as_member["agent"] and as_owner["agent"]["system_prompt"] == "be brief"


async def test_the_embedded_agent_answers_like_reading_it_directly(api):
    team, agent_id = await shared_agent(api)
    direct = (await team.carol.get(f"/api/agents/{agent_id}")).json["data"]
    embedded = embedded_agent((await team.carol.get(f"{team.url}?include=agents")).json["data"])
    assert embedded == direct


async def test_an_embedded_agents_secrets_read_as_set(api):
    team, _ = await shared_agent(api)
    body = await team.bob.get(f"{team.url}?include=agents")
    assert embedded_agent(body.json["data"])["secrets"] == {"github": "set"} and "ghp_x" not in body.text
