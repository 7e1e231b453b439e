"""The example app's own rules, all declared in resources.yaml (the members relation's `owner_joins` and
`keep_one`, the agents' `transitions:`), over HTTP."""

from __future__ import annotations

import asyncio

import pytest
from team_helpers import add_member, create_agent, create_team, team_with_roles

from engine import hookimpl
from engine.kernel.errors import Conflict

# --- a new team's creator is its first owner -------------------------------------------------------


async def test_creating_a_team_makes_the_creator_an_owner_member(api):
    alice = await api.as_user("alice")
    team_id = await create_team(alice)
    rows = await api.sql("select user_id, role from team_members where team_id = $1", team_id)
    assert [tuple(r) for r in rows] == [("alice", "owner")]


async def test_admin_creating_a_team_for_a_user_makes_that_user_the_owner_member(api):
    await api.as_user("bob")
    admin = await api.as_admin()
    team_id = await create_team(admin, owner_id="bob")
    rows = await api.sql("select user_id, role from team_members where team_id = $1", team_id)
    assert [tuple(r) for r in rows] == [("bob", "owner")]


class RefuseMemberships:
    """A test plugin that makes every membership write fail."""

    @hookimpl
    def before_write(self, resource, action):
        if resource.name == "team_members" and action == "create":
            raise Conflict("memberships are closed today")


@pytest.mark.parametrize("engine_plugins", [[RefuseMemberships()]], ids=["memberships-refused"])
async def test_team_and_its_owner_membership_commit_together(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.post("/api/teams", json={"name": "Core"}), 409)
    assert await api.sql("select 1 from teams") == []


# --- a team keeps at least one owner ---------------------------------------------------------------


async def test_removing_the_last_owner_is_409(api, expect_problem):
    team = await team_with_roles(api)
    body = expect_problem(await team.alice.delete(f"{team.url}/members/alice"), 409)
    assert body["detail"] == (
        "every teams row keeps at least one of its members with role owner: "
        "give role owner to another one before you remove this one"
    )
    assert body["team_id"] == team.id and body["user_id"] == "alice"


async def test_demoting_the_last_owner_is_409(api, expect_problem):
    """Only the owner may change their own membership (a team admin gets 403, tests/test_teams_access.py);
    demoting it would leave the team without an owner member."""
    team = await team_with_roles(api)
    expect_problem(await team.alice.patch(f"{team.url}/members/alice", json={"role": "admin"}), 409)
    (stored,) = await api.sql("select role from team_members where team_id = $1 and user_id = 'alice'", team.id)
    assert stored["role"] == "owner"


async def test_an_owner_member_may_leave_once_another_owner_member_exists(api):
    """Role owner is the team owner's alone for users (access.fields.role); an admin may add another."""
    team = await team_with_roles(api)
    admin = await api.as_admin()
    assert (await admin.patch(f"{team.url}/members/bob", json={"role": "owner"})).status == 200
    assert (await admin.delete(f"{team.url}/members/alice")).status == 204


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(api):
    """Membership writes lock the team row first, so the second demotion sees the first."""
    team = await team_with_roles(api)
    admin, other_admin = await api.as_admin(), await api.as_admin("root")
    await admin.patch(f"{team.url}/members/bob", json={"role": "owner"})
    results = await asyncio.gather(
        admin.patch(f"{team.url}/members/bob", json={"role": "member"}),
        other_admin.patch(f"{team.url}/members/alice", json={"role": "member"}),
    )
    assert sorted(r.status for r in results) == [200, 409]
    owners = await api.sql("select 1 from team_members where team_id = $1 and role = 'owner'", team.id)
    assert len(owners) == 1


async def test_the_rule_holds_on_the_join_resources_own_routes_too(api, expect_problem):
    """It lives on the write hooks, not on a route: an admin editing team_members directly meets it."""
    alice = await api.as_user("alice")
    team_id = await create_team(alice)
    admin = await api.as_admin()
    (membership,) = await api.sql("select id::text from team_members where team_id = $1", team_id)
    expect_problem(await admin.delete(f"/api/team_members/{membership['id']}"), 409)


async def test_a_pending_invitation_as_owner_does_not_keep_the_team(api, expect_problem):
    alice, _ = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(alice)
    admin = await api.as_admin()  # role owner is the team owner's own to hold (access.fields.role)
    invited = await admin.post(f"/api/teams/{team_id}/members", json={"user_id": "bob", "role": "owner"})
    assert invited.status == 202, invited.text
    expect_problem(await alice.delete(f"/api/teams/{team_id}/members/alice"), 409)


async def test_removing_a_plain_member_needs_no_other_owner(api):
    alice, _ = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(alice)
    await add_member(api, alice, team_id, "bob")
    assert (await alice.delete(f"/api/teams/{team_id}/members/bob")).status == 204


# --- agent status moves ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "to"),
    [
        ("draft", "active"),
        ("active", "paused"),
        ("paused", "active"),
        ("draft", "archived"),
        ("active", "archived"),
        ("paused", "archived"),
    ],
)
async def test_allowed_status_move_succeeds(api, start, to):
    alice = await api.as_user("alice")
    agent_id = await create_agent(alice, status=start)
    moved = await alice.patch(f"/api/agents/{agent_id}", json={"status": to})
    assert moved.status == 200, moved.text
    assert moved.json["data"]["status"] == to


@pytest.mark.parametrize(
    ("start", "to"),
    [
        ("draft", "paused"),
        ("active", "draft"),
        ("paused", "draft"),
        ("archived", "active"),
        ("archived", "draft"),
        ("archived", "paused"),
    ],
)
async def test_other_status_moves_are_409(api, expect_problem, start, to):
    alice = await api.as_user("alice")
    agent_id = await create_agent(alice, status=start)
    expect_problem(await alice.patch(f"/api/agents/{agent_id}", json={"status": to}), 409)
    (stored,) = await api.sql("select status from agents where id = $1", agent_id)
    assert stored["status"] == start


async def test_refused_move_names_the_allowed_moves(api, expect_problem):
    alice = await api.as_user("alice")
    agent_id = await create_agent(alice)
    body = expect_problem(await alice.patch(f"/api/agents/{agent_id}", json={"status": "paused"}), 409)
    assert body["detail"] == (
        "agents: status cannot move from draft to paused; from draft it may move to active, archived"
    )
    assert body["allowed_moves"] == ["active", "archived"]
    assert (body["current_status"], body["requested_status"]) == ("draft", "paused")


async def test_archived_is_final(api, expect_problem):
    alice = await api.as_user("alice")
    agent_id = await create_agent(alice, status="archived")
    body = expect_problem(await alice.patch(f"/api/agents/{agent_id}", json={"status": "active"}), 409)
    assert body["allowed_moves"] == [] and "archived is final" in body["detail"]


async def test_other_fields_of_an_archived_agent_still_change(api):
    alice = await api.as_user("alice")
    agent_id = await create_agent(alice, status="archived")
    patched = await alice.patch(f"/api/agents/{agent_id}", json={"name": "Renamed", "status": "archived"})
    assert patched.status == 200 and patched.json["data"]["name"] == "Renamed"
