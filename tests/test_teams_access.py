"""Access through team membership, declared in resources.yaml (teams.access) and enforced in SQL.

The cast: alice owns the team, bob is a team admin, carol a plain member, dave an outsider.
"""

from __future__ import annotations

import pytest
from team_helpers import create_agent, create_team, share_agent, team_with_roles

# --- members read ----------------------------------------------------------------------------------


async def test_member_reads_the_team(api):
    team = await team_with_roles(api)
    got = await team.carol.get(team.url)
    assert got.status == 200 and got.json["data"]["id"] == team.id


async def test_member_finds_the_team_in_the_list(api):
    team = await team_with_roles(api)
    await create_team(team.dave, "Not carol's")
    listed = await team.carol.get("/api/teams")
    assert [row["id"] for row in listed.json["data"]] == [team.id]


async def test_member_lists_the_members(api):
    team = await team_with_roles(api)
    listed = await team.carol.get(f"{team.url}/members")
    assert listed.status == 200 and len(listed.json["data"]) == 3


async def test_member_lists_the_shared_agents_of_others(api):
    team = await team_with_roles(api)
    agent_id = await create_agent(team.alice)
    await share_agent(team.alice, team.id, agent_id)
    listed = await team.carol.get(f"{team.url}/agents")
    assert [row["agent_id"] for row in listed.json["data"]] == [agent_id]


# --- non-members: 404 for the team and everything under it ------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"name": "Mine now"}),
        ("DELETE", "", None),
        ("GET", "/members", None),
        ("POST", "/members", {"user_id": "dave"}),
        ("GET", "/members/carol", None),
        ("PATCH", "/members/carol", {"role": "admin"}),
        ("DELETE", "/members/carol", None),
        ("GET", "/agents", None),
        ("POST", "/agents", {"agent_id": "00000000-0000-0000-0000-000000000000"}),
    ],
)
async def test_non_member_gets_404_everywhere_under_the_team(api, expect_problem, method, suffix, body):
    team = await team_with_roles(api)
    result = await team.dave.request(method, team.url + suffix, json=body)
    expect_problem(result, 404)


async def test_non_member_does_not_see_the_team_in_the_list(api):
    team = await team_with_roles(api)
    listed = await team.dave.get("/api/teams")
    assert listed.json["data"] == []


async def test_non_member_changes_nothing(api):
    team = await team_with_roles(api)
    await team.dave.patch(team.url, json={"name": "Mine now"})
    await team.dave.delete(f"{team.url}/members/carol")
    (stored,) = await api.sql("select name from teams where id = $1", team.id)
    assert stored["name"] == "Core"
    assert len(await api.sql("select 1 from team_members where team_id = $1", team.id)) == 3


async def test_anonymous_gets_401_on_nested_routes(api, expect_problem):
    team = await team_with_roles(api)
    expect_problem(await api.anonymous.get(f"{team.url}/members"), 401)
    expect_problem(await api.anonymous.post(f"{team.url}/members", json={"user_id": "dave"}), 401)


# --- plain members: read, but 403 on changes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "", {"name": "Carol's"}),
        ("DELETE", "", None),
        ("POST", "/members", {"user_id": "dave"}),
        ("PATCH", "/members/bob", {"role": "member"}),
        ("DELETE", "/members/bob", None),
    ],
)
async def test_plain_member_gets_403_on_changes(api, expect_problem, method, suffix, body):
    team = await team_with_roles(api)
    result = await team.carol.request(method, team.url + suffix, json=body)
    expect_problem(result, 403)


async def test_plain_member_cannot_share_even_their_own_agent(api, expect_problem):
    team = await team_with_roles(api)
    agent_id = await create_agent(team.carol)
    expect_problem(await team.carol.post(f"{team.url}/agents", json={"agent_id": agent_id}), 403)
    assert await api.sql("select 1 from team_agents where team_id = $1", team.id) == []


# --- team admins (role admin) and owners (role owner, or the owner field) ----------------------------


async def test_team_admin_renames_the_team(api):
    team = await team_with_roles(api)
    renamed = await team.bob.patch(team.url, json={"name": "Renamed"})
    assert renamed.status == 200 and renamed.json["data"]["name"] == "Renamed"


async def test_team_admin_manages_membership(api):
    team = await team_with_roles(api)
    assert (await team.bob.post(f"{team.url}/members", json={"user_id": "dave"})).status == 202
    assert (await team.dave.post(f"{team.url}/members/dave/accept")).status == 200
    assert (await team.bob.patch(f"{team.url}/members/dave", json={"role": "admin"})).status == 200
    assert (await team.bob.delete(f"{team.url}/members/dave")).status == 204


async def test_team_admin_shares_and_unshares_their_own_agent(api):
    team = await team_with_roles(api)
    agent_id = await create_agent(team.bob)
    assert (await team.bob.post(f"{team.url}/agents", json={"agent_id": agent_id})).status == 201
    assert (await team.bob.delete(f"{team.url}/agents/{agent_id}")).status == 204


async def test_only_the_owner_deletes_the_team(api, expect_problem):
    """`delete: [owner]`: a team admin may rename the team but not delete it (issue 16)."""
    team = await team_with_roles(api)
    expect_problem(await team.bob.delete(team.url), 403)
    assert (await team.alice.delete(team.url)).status == 204


@pytest.mark.parametrize("granter", ["alice", "bob"])
async def test_role_owner_belongs_to_the_teams_owner_alone(api, expect_problem, granter):
    team = await team_with_roles(api)
    client = getattr(team, granter)
    expect_problem(await client.post(f"{team.url}/members", json={"user_id": "dave", "role": "owner"}), 403)
    expect_problem(await client.patch(f"{team.url}/members/carol", json={"role": "owner"}), 403)
    roles = await api.sql("select user_id, role from team_members where team_id = $1 order by user_id", team.id)
    assert [(r["user_id"], r["role"]) for r in roles] == [("alice", "owner"), ("bob", "admin"), ("carol", "member")]


async def test_team_admin_cannot_change_or_remove_the_owners_membership(api, expect_problem):
    team = await team_with_roles(api)
    expect_problem(await team.bob.patch(f"{team.url}/members/alice", json={"role": "member"}), 403)
    expect_problem(await team.bob.delete(f"{team.url}/members/alice"), 403)
    (alice,) = await api.sql("select role from team_members where team_id = $1 and user_id = 'alice'", team.id)
    assert alice["role"] == "owner"


async def test_team_owner_keeps_control_whatever_the_memberships_say(api):
    """The `owner` rule matches teams.owner_id; the owner's membership cannot be demoted away (409)."""
    team = await team_with_roles(api)
    assert (await team.alice.patch(f"{team.url}/members/alice", json={"role": "member"})).status == 409
    assert (await team.alice.patch(f"{team.url}/members/bob", json={"role": "member"})).status == 200
    assert (await team.alice.patch(team.url, json={"name": "Still mine"})).status == 200


async def test_team_admin_of_one_team_gets_404_on_another(api, expect_problem):
    team = await team_with_roles(api)
    other = await create_team(team.dave, "Dave's")
    expect_problem(await team.bob.patch(f"/api/teams/{other}", json={"name": "Taken"}), 404)


# --- attaching agents --------------------------------------------------------------------------------


async def test_user_shares_only_agents_they_own(api, expect_problem):
    team = await team_with_roles(api)
    alices_agent = await create_agent(team.alice)
    refused = await team.bob.post(f"{team.url}/agents", json={"agent_id": alices_agent})
    body = expect_problem(refused, 422)
    assert body["errors"] == [{"path": "/agent_id", "message": "no agents row you may update has this id"}]
    assert await api.sql("select 1 from team_agents where team_id = $1", team.id) == []


async def test_sharing_a_missing_agent_is_the_same_422(api, expect_problem):
    team = await team_with_roles(api)
    refused = await team.bob.post(f"{team.url}/agents", json={"agent_id": "00000000-0000-0000-0000-000000000000"})
    assert expect_problem(refused, 422)["errors"][0]["path"] == "/agent_id"


# --- admins ------------------------------------------------------------------------------------------


async def test_admin_reads_and_changes_any_team(api):
    team = await team_with_roles(api)
    admin = await api.as_admin()
    assert (await admin.get(f"{team.url}/members")).status == 200
    assert (await admin.patch(team.url, json={"name": "Moderated"})).status == 200
    assert (await admin.post(f"{team.url}/members", json={"user_id": "dave"})).status == 202


async def test_admin_shares_any_users_agent(api):
    team = await team_with_roles(api)
    admin = await api.as_admin()
    carols_agent = await create_agent(team.carol)
    shared = await admin.post(f"{team.url}/agents", json={"agent_id": carols_agent})
    assert shared.status == 201, shared.text
