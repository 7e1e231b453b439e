"""Path rules in the example app (resources.yaml): access that follows relations several hops.

agents are read by members of a team they are shared with (agents <- team_agents -> teams <-
team_members), users by their co-members. The cast: alice owns the team, bob is a team admin,
carol a plain member, dave an outsider. Every path that returns rows applies the same rule.
"""

from __future__ import annotations

import pytest
from team_helpers import add_member, create_agent, share_agent, team_with_roles


async def shared_agent(api):
    team = await team_with_roles(api)
    agent_id = await create_agent(team.alice, "Shared", system_prompt="be brief")
    await share_agent(team.alice, team.id, agent_id)
    return team, agent_id


# --- agents shared with a team -------------------------------------------------------------------------


async def test_member_reads_an_agent_shared_with_their_team(api):
    team, agent_id = await shared_agent(api)
    got = await team.carol.get(f"/api/agents/{agent_id}")
    assert got.status == 200 and got.json["data"]["name"] == "Shared"


async def test_member_lists_the_agents_shared_with_them_next_to_their_own(api):
    team, agent_id = await shared_agent(api)
    own = await create_agent(team.carol, "Carol's")
    await create_agent(team.dave, "Dave's")
    listed = await team.carol.get("/api/agents?sort=name")
    assert [row["id"] for row in listed.json["data"]] == [own, agent_id]


async def test_outsider_gets_404_for_a_shared_agent(api, expect_problem):
    team, agent_id = await shared_agent(api)
    expect_problem(await team.dave.get(f"/api/agents/{agent_id}"), 404)
    assert (await team.dave.get("/api/agents")).json["data"] == []


async def test_unsharing_hides_the_agent_again(api, expect_problem):
    team, agent_id = await shared_agent(api)
    assert (await team.alice.delete(f"{team.url}/agents/{agent_id}")).status == 204
    expect_problem(await team.carol.get(f"/api/agents/{agent_id}"), 404)


@pytest.mark.parametrize(("method", "body"), [("PATCH", {"name": "Mine"}), ("DELETE", None)])
async def test_member_gets_403_changing_a_shared_agent_they_can_read(api, expect_problem, method, body):
    team, agent_id = await shared_agent(api)
    expect_problem(await team.carol.request(method, f"/api/agents/{agent_id}", json=body), 403)
    (stored,) = await api.sql("select name from agents where id = $1", agent_id)
    assert stored["name"] == "Shared"


async def test_outsider_gets_404_changing_a_shared_agent(api, expect_problem):
    team, agent_id = await shared_agent(api)
    expect_problem(await team.dave.patch(f"/api/agents/{agent_id}", json={"name": "Mine"}), 404)


async def test_a_cursor_pages_through_shared_agents(api):
    team, first = await shared_agent(api)
    second = await create_agent(team.alice, "Second")
    await share_agent(team.alice, team.id, second)
    page = await team.carol.get("/api/agents?limit=1&sort=name")
    rest = await team.carol.get(f"/api/agents?limit=1&sort=name&cursor={page.json['meta']['next_cursor']}")
    assert [page.json["data"][0]["id"], rest.json["data"][0]["id"]] == [second, first]


async def test_member_sees_the_shared_agents_events_and_outsider_does_not(api):
    team, agent_id = await shared_agent(api)
    seen = await team.carol.get("/api/events?resource=agents")
    assert agent_id in {event["record_id"] for event in seen.json["data"]}
    unseen = await team.dave.get("/api/events?resource=agents")
    assert agent_id not in {event["record_id"] for event in unseen.json["data"]}


# --- users: co-members read each other's id and name --------------------------------------------------


async def test_co_member_reads_id_and_name_only(api):
    team = await team_with_roles(api)
    await api.sql("update users set name = 'Alice A.' where id = 'alice'")
    got = await team.carol.get("/api/users/alice")
    assert got.status == 200 and got.json["data"] == {"id": "alice", "name": "Alice A."}


async def test_user_reads_their_whole_own_row(api):
    team = await team_with_roles(api)
    got = await team.carol.get("/api/users/carol")
    assert got.json["data"]["email"] == "carol@example.test" and "created_at" in got.json["data"]


async def test_users_list_holds_the_caller_and_their_co_members(api):
    team = await team_with_roles(api)
    listed = await team.carol.get("/api/users?sort=id")
    assert [row["id"] for row in listed.json["data"]] == ["alice", "bob", "carol"]
    assert [sorted(row) for row in listed.json["data"][:2]] == [["id", "name"], ["id", "name"]]
    assert listed.json["data"][2]["email"] == "carol@example.test"


async def test_outsider_gets_404_for_a_user(api, expect_problem):
    team = await team_with_roles(api)
    expect_problem(await team.dave.get("/api/users/alice"), 404)


async def test_leaving_the_team_ends_co_membership(api, expect_problem):
    team = await team_with_roles(api)
    assert (await team.alice.delete(f"{team.url}/members/carol")).status == 204
    expect_problem(await team.carol.get("/api/users/alice"), 404)


async def test_members_include_user_gives_names_not_emails(api):
    team = await team_with_roles(api)
    listed = await team.carol.get(f"{team.url}/members?include=user&sort=user_id")
    users = [row["user"] for row in listed.json["data"]]
    assert [u["id"] for u in users] == ["alice", "bob", "carol"]
    assert [sorted(u) for u in users[:2]] == [["id", "name"], ["id", "name"]]
    assert users[2]["email"] == "carol@example.test"


async def test_co_member_does_not_get_user_events(api):
    """A users event carries the email, which a co-member may not read: the event is withheld."""
    team = await team_with_roles(api)
    seen = await team.carol.get("/api/events?resource=users")
    assert {event["record_id"] for event in seen.json["data"]} == {"carol"}


async def test_admin_reads_every_user_field(api):
    team = await team_with_roles(api)
    admin = await api.as_admin()
    got = await admin.get("/api/users/alice")
    assert got.json["data"]["email"] == "alice@example.test"
    del team


# --- teams: only the owner gives the owner role ------------------------------------------------------------


async def test_owner_adds_admins_and_members(api):
    team = await team_with_roles(api)
    await api.as_user("erin")
    assert (await add_member(api, team.alice, team.id, "erin", "admin"))["role"] == "admin"
