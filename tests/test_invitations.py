"""Invitations: adding a member creates a pending membership the invitee accepts or declines.

members of teams declares `invite: {status_field: status, parent_fields: [name]}` in resources.yaml.
"""

from __future__ import annotations

import pytest
from team_helpers import add_member, create_agent, create_team, invite, team_with_roles

from engine.spec import SpecError, load_spec


async def memberships(api, team_id: str) -> list[tuple[str, str, str]]:
    rows = await api.sql("select user_id, role, status from team_members where team_id = $1 order by user_id", team_id)
    return [tuple(row) for row in rows]


def comparable(result) -> tuple[int, dict, str]:
    """Status, body without the request id, and content type: what must not differ between two answers."""
    body = dict(result.json)
    body.pop("request_id", None)
    return result.status, body, result.headers.get("Content-Type")


# --- inviting ------------------------------------------------------------------------------------


async def test_adding_a_member_creates_a_pending_membership(api):
    team = await team_with_roles(api)
    await invite(team.alice, team.id, "dave", "admin")
    assert ("dave", "admin", "pending") in await memberships(api, team.id)


async def test_a_pending_membership_grants_nothing(api, expect_problem):
    team = await team_with_roles(api)
    await invite(team.alice, team.id, "dave", "admin")
    expect_problem(await team.dave.get(team.url), 404)
    expect_problem(await team.dave.get(f"{team.url}/members"), 404)
    expect_problem(await team.dave.patch(team.url, json={"name": "Mine"}), 404)
    assert (await team.dave.get("/api/teams")).json["data"] == []


async def test_the_answer_is_identical_for_an_existing_and_an_unknown_user(api):
    team = await team_with_roles(api)
    known = await team.alice.post(f"{team.url}/members", json={"user_id": "dave", "role": "admin"})
    unknown = await team.alice.post(f"{team.url}/members", json={"user_id": "zed", "role": "admin"})
    assert known.status == 202
    known_body, unknown_body = comparable(known)[1], comparable(unknown)[1]
    assert known_body["data"].pop("user_id") == "dave" and unknown_body["data"].pop("user_id") == "zed"
    assert (known.status, known_body, sorted(known.headers)) == (unknown.status, unknown_body, sorted(unknown.headers))
    assert [row[0] for row in await memberships(api, team.id)] == ["alice", "bob", "carol", "dave"]


async def test_inviting_again_answers_the_same_and_takes_the_new_role(api):
    team = await team_with_roles(api)
    first = await team.alice.post(f"{team.url}/members", json={"user_id": "dave"})
    again = await team.alice.post(f"{team.url}/members", json={"user_id": "dave", "role": "admin"})
    unknown_again = await team.alice.post(f"{team.url}/members", json={"user_id": "zed", "role": "admin"})
    assert first.status == again.status == unknown_again.status == 202
    assert ("dave", "admin", "pending") in await memberships(api, team.id)


async def test_inviting_an_active_member_is_409(api, expect_problem):
    team = await team_with_roles(api)
    expect_problem(await team.alice.post(f"{team.url}/members", json={"user_id": "carol"}), 409)


async def test_the_inviter_cannot_set_the_status(api, expect_problem):
    team = await team_with_roles(api)
    sent = await team.alice.post(f"{team.url}/members", json={"user_id": "dave", "status": "active"})
    assert expect_problem(sent, 422)["errors"][0]["path"] == "/status"
    patched = await team.alice.patch(f"{team.url}/members/carol", json={"status": "pending"})
    assert expect_problem(patched, 422)["errors"][0]["path"] == "/status"


async def test_an_invalid_body_is_the_same_422_for_an_existing_and_an_unknown_user(api, expect_problem):
    team = await team_with_roles(api)
    known = await team.alice.post(f"{team.url}/members", json={"user_id": "dave", "role": "boss"})
    unknown = await team.alice.post(f"{team.url}/members", json={"user_id": "zed", "role": "boss"})
    assert comparable(known) == comparable(unknown)
    expect_problem(known, 422)


async def test_a_member_without_the_right_cannot_invite(api, expect_problem):
    team = await team_with_roles(api)
    expect_problem(await team.carol.post(f"{team.url}/members", json={"user_id": "dave"}), 403)
    expect_problem(await team.dave.post(f"{team.url}/members", json={"user_id": "dave"}), 404)


# --- the team's side -----------------------------------------------------------------------------


async def test_pending_invitations_stay_out_of_the_teams_routes_and_includes(api, expect_problem):
    team = await team_with_roles(api)
    await invite(team.alice, team.id, "dave")
    listed = await team.alice.get(f"{team.url}/members?sort=user_id")
    assert [row["user_id"] for row in listed.json["data"]] == ["alice", "bob", "carol"]
    included = await team.alice.get(f"{team.url}?include=members")
    assert sorted(m["user_id"] for m in included.json["data"]["members"]) == ["alice", "bob", "carol"]
    expect_problem(await team.alice.get(f"{team.url}/members/dave"), 404)
    expect_problem(await team.alice.patch(f"{team.url}/members/dave", json={"role": "admin"}), 404)


async def test_revoking_an_invitation_answers_like_revoking_none(api):
    team = await team_with_roles(api)
    await invite(team.alice, team.id, "dave")
    revoked = await team.alice.delete(f"{team.url}/members/dave")
    nothing = await team.alice.delete(f"{team.url}/members/zed")
    assert revoked.status == nothing.status == 204
    assert "dave" not in [row[0] for row in await memberships(api, team.id)]


async def test_a_pending_owner_does_not_keep_the_team_owned(api, expect_problem):
    alice, _ = await api.as_user("alice"), await api.as_user("dave")
    team_id = await create_team(alice)
    # Nobody can invite an owner through the API any more (the owner role belongs to teams.owner_id);
    # a pending owner row written directly must still not count as the team's other owner.
    await api.sql(
        "INSERT INTO team_members (team_id, user_id, role, status) VALUES ($1, 'dave', 'owner', 'pending')", team_id
    )
    expect_problem(await alice.patch(f"/api/teams/{team_id}/members/alice", json={"role": "member"}), 409)


# --- the invitee's side --------------------------------------------------------------------------


async def test_the_invitee_sees_their_invitations_with_the_teams_name(api):
    team = await team_with_roles(api)
    other = await create_team(team.bob, "Other")
    await invite(team.alice, team.id, "dave", "admin")
    await invite(team.bob, other, "dave")
    got = await team.dave.get("/api/me/invitations")
    assert got.status == 200, got.text
    names = sorted((item["team"]["name"], item["role"], item["status"]) for item in got.json["data"])
    assert names == [("Core", "admin", "pending"), ("Other", "member", "pending")]
    (core,) = [item for item in got.json["data"] if item["team"]["id"] == team.id]
    assert set(core["team"]) == {"id", "name"}
    assert core["_links"]["accept"] == f"{team.url}/members/dave/accept"
    assert (await team.carol.get("/api/me/invitations")).json["data"] == []


async def test_accepting_makes_the_membership_active_and_grants_access(api):
    team = await team_with_roles(api)
    await invite(team.alice, team.id, "dave", "admin")
    accepted = await team.dave.post(f"{team.url}/members/dave/accept")
    assert accepted.status == 200, accepted.text
    assert (accepted.json["data"]["status"], accepted.json["data"]["role"]) == ("active", "admin")
    assert (await team.dave.get(team.url)).status == 200
    assert (await team.dave.patch(team.url, json={"name": "Renamed"})).status == 200
    assert (await team.dave.get("/api/me/invitations")).json["data"] == []


async def test_an_invitation_to_a_deleted_team_is_neither_listed_nor_answered(api, expect_problem):
    team = await team_with_roles(api)
    await invite(team.alice, team.id, "dave")
    assert (await team.alice.delete(team.url)).status == 204
    assert (await team.dave.get("/api/me/invitations")).json["data"] == []
    expect_problem(await team.dave.post(f"{team.url}/members/dave/accept"), 404)
    expect_problem(await team.dave.post(f"{team.url}/members/dave/decline"), 404)
    assert ("dave", "member", "pending") in await memberships(api, team.id)


async def test_declining_deletes_the_invitation(api, expect_problem):
    team = await team_with_roles(api)
    await invite(team.alice, team.id, "dave")
    assert (await team.dave.post(f"{team.url}/members/dave/decline")).status == 204
    assert "dave" not in [row[0] for row in await memberships(api, team.id)]
    expect_problem(await team.dave.get(team.url), 404)


async def test_only_the_invitee_answers_an_invitation(api, expect_problem):
    team = await team_with_roles(api)
    await invite(team.alice, team.id, "dave")
    admin = await api.as_admin()
    for caller in (team.alice, team.carol, admin):
        expect_problem(await caller.post(f"{team.url}/members/dave/accept"), 404)
        expect_problem(await caller.post(f"{team.url}/members/dave/decline"), 404)
    assert ("dave", "member", "pending") in await memberships(api, team.id)


async def test_an_active_membership_or_no_invitation_cannot_be_accepted(api, expect_problem):
    team = await team_with_roles(api)
    expect_problem(await team.carol.post(f"{team.url}/members/carol/accept"), 404)
    expect_problem(await team.dave.post(f"{team.url}/members/dave/accept"), 404)
    expect_problem(await team.dave.post("/api/teams/not-a-uuid/members/dave/accept"), 404)


async def test_anonymous_callers_have_no_invitations(api, expect_problem):
    team = await team_with_roles(api)
    expect_problem(await api.anonymous.get("/api/me/invitations"), 401)
    expect_problem(await api.anonymous.post(f"{team.url}/members/dave/accept"), 401)


async def test_an_unknown_parameter_on_the_invitations_list_is_400_naming_it(api, expect_problem):
    bob = await api.as_user("bob")
    problem = expect_problem(await bob.get("/api/me/invitations?limit=1000"), 400)
    assert problem["parameter"] == "limit"


async def test_the_helper_path_invite_then_accept_gives_an_active_member(api):
    team = await team_with_roles(api)
    await add_member(api, team.alice, team.id, "dave")
    assert ("dave", "member", "active") in await memberships(api, team.id)


# --- attaching rows the caller may not see --------------------------------------------------------


async def test_attaching_a_hidden_row_and_a_missing_row_answer_identically(api):
    team = await team_with_roles(api)
    alices_agent = await create_agent(team.alice)
    hidden = await team.bob.post(f"{team.url}/agents", json={"agent_id": alices_agent})
    missing = await team.bob.post(f"{team.url}/agents", json={"agent_id": "00000000-0000-0000-0000-000000000000"})
    assert hidden.status == 422
    assert comparable(hidden) == comparable(missing)
    assert await api.sql("select 1 from team_agents where team_id = $1", team.id) == []


# --- the declaration -----------------------------------------------------------------------------

SPEC = """
version: 1
resources:
  people:
    schema: person.json
    owner: id
  clubs:
    schema: club.json
    relations:
      members: {through: club_members, key: club_id, other: person_id, invite: INVITE}
  club_members:
    schema: club_member.json
    references:
      club_id: {resource: clubs, on_delete: cascade}
      person_id: {resource: people, on_delete: cascade}
"""


def spec_with(write_spec, schema_of, invite_yaml: str):
    member = {
        "id": {"type": "string", "format": "uuid", "readOnly": True},
        "club_id": {"type": "string", "format": "uuid"},
        "person_id": {"type": "string"},
        "state": {"enum": ["pending", "active"], "default": "active"},
        "colour": {"enum": ["red", "blue"]},
    }
    schemas = {
        "person.json": schema_of({"id": {"type": "string"}}, ["id"]),
        "club.json": schema_of({"id": member["id"], "name": {"type": "string"}}),
        "club_member.json": schema_of(member, ["club_id", "person_id"]),
    }
    return str(write_spec(SPEC.replace("INVITE", invite_yaml), schemas))


def test_invite_is_declared_on_any_relation(write_spec, schema_of):
    spec = load_spec(spec_with(write_spec, schema_of, "{status_field: state, parent_fields: [name]}"))
    invite_of = spec.resources["clubs"].relations["members"].invite
    assert (invite_of.status_field, invite_of.parent_fields) == ("state", ("name",))


@pytest.mark.parametrize(
    ("invite_yaml", "message"),
    [
        ("{status_field: colour}", r"relations\.members\.invite\.status_field: club_members\.colour must be a field"),
        ("{status_field: nothing}", r"club_members\.nothing must be a field whose enum holds 'pending' and 'active'"),
        ("{status_field: state, parent_fields: [motto]}", r"parent_fields\[0\]: 'motto' is not a field of clubs"),
        ("{parent_fields: [name]}", r"invite"),
    ],
)
def test_a_wrong_invite_declaration_is_a_spec_error(write_spec, schema_of, invite_yaml, message):
    with pytest.raises(SpecError, match=message):
        load_spec(spec_with(write_spec, schema_of, invite_yaml))
