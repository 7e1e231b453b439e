"""Nested routes generated from the many-to-many declarations of teams (members, agents)."""

from __future__ import annotations

from team_helpers import add_member, create_agent, create_team, share_agent, team_with_roles

# --- /api/teams/{id}/members -----------------------------------------------------------------------


async def test_post_member_returns_202_and_the_invitation(api):
    """members declares `invite`: the answer is the invitation as asked (see test_invitations.py)."""
    alice, _ = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(alice)
    added = await alice.post(f"/api/teams/{team_id}/members", json={"user_id": "bob", "role": "admin"})
    assert added.status == 202, added.text
    assert "Location" not in added.headers
    assert added.json["data"] == {"team_id": team_id, "user_id": "bob", "role": "admin", "status": "pending"}


async def test_post_member_stores_the_join_row(api):
    alice, _ = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(alice)
    await add_member(api, alice, team_id, "bob")
    rows = await api.sql("select user_id, role from team_members where team_id = $1 order by user_id", team_id)
    assert [tuple(r) for r in rows] == [("alice", "owner"), ("bob", "member")]


async def test_post_member_role_defaults_from_the_join_schema(api):
    alice, _ = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(alice)
    added = await alice.post(f"/api/teams/{team_id}/members", json={"user_id": "bob"})
    assert added.json["data"]["role"] == "member"


async def test_post_member_validates_against_the_join_schema(api, expect_problem):
    alice, _ = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(alice)
    refused = await alice.post(f"/api/teams/{team_id}/members", json={"user_id": "bob", "role": "boss", "x": 1})
    body = expect_problem(refused, 422)
    assert {e["path"] for e in body["errors"]} == {"/role", "/x"}


async def test_post_member_refuses_the_team_id_because_the_url_sets_it(api, expect_problem):
    alice, _ = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(alice)
    other_team = await create_team(alice, "Other")
    refused = await alice.post(f"/api/teams/{team_id}/members", json={"user_id": "bob", "team_id": other_team})
    body = expect_problem(refused, 422)
    assert body["errors"] == [{"path": "/team_id", "message": "'team_id' is read-only here: it is set by the URL"}]


async def test_post_member_for_an_unknown_user_answers_like_for_a_known_one(api):
    alice = await api.as_user("alice")
    team_id = await create_team(alice)
    answered = await alice.post(f"/api/teams/{team_id}/members", json={"user_id": "nobody"})
    assert answered.status == 202
    assert answered.json["data"] == {"team_id": team_id, "user_id": "nobody", "role": "member", "status": "pending"}
    assert await api.sql("select 1 from team_members where user_id = 'nobody'") == []


async def test_post_an_existing_member_again_is_409(api, expect_problem):
    alice, _ = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(alice)
    await add_member(api, alice, team_id, "bob")
    again = await alice.post(f"/api/teams/{team_id}/members", json={"user_id": "bob"})
    body = expect_problem(again, 409)
    assert body["fields"] == ["team_id", "user_id"]


async def test_get_members_lists_the_join_rows_of_that_team_only(api):
    team = await team_with_roles(api)
    await create_team(team.dave, "Elsewhere")
    listed = await team.alice.get(f"{team.url}/members?sort=user_id")
    assert listed.status == 200
    assert [(r["user_id"], r["role"]) for r in listed.json["data"]] == [
        ("alice", "owner"),
        ("bob", "admin"),
        ("carol", "member"),
    ]
    assert {r["team_id"] for r in listed.json["data"]} == {team.id}


async def test_get_members_filters_with_the_list_query_language(api):
    team = await team_with_roles(api)
    listed = await team.alice.get(f"{team.url}/members?role[in]=owner,admin&sort=-user_id")
    assert [r["user_id"] for r in listed.json["data"]] == ["bob", "alice"]


async def test_get_members_projects_fields(api):
    team = await team_with_roles(api)
    listed = await team.alice.get(f"{team.url}/members?fields=user_id,role&sort=user_id&limit=1")
    assert listed.json["data"] == [{"user_id": "alice", "role": "owner"}]


async def test_get_members_pages_with_a_cursor(api):
    team = await team_with_roles(api)
    first = await team.alice.get(f"{team.url}/members?sort=user_id&limit=2")
    cursor = first.json["meta"]["next_cursor"]
    assert cursor is not None
    assert first.headers["Link"].startswith(f"<{team.url}/members?")
    second = await team.alice.get(f"{team.url}/members?sort=user_id&limit=2&cursor={cursor}")
    assert [r["user_id"] for r in first.json["data"] + second.json["data"]] == ["alice", "bob", "carol"]
    assert second.json["meta"]["next_cursor"] is None


async def test_get_members_counts_the_teams_active_members(api):
    team = await team_with_roles(api)
    await add_member(api, team.dave, await create_team(team.dave, "Elsewhere"), "carol")
    await team.alice.post(f"{team.url}/members", json={"user_id": "dave"})  # pending: not a member yet
    listed = await team.alice.get(f"{team.url}/members?count=exact&limit=1")
    assert listed.json["meta"]["total"] == 3 and listed.json["meta"]["total_is"] == "exact"
    assert len(listed.json["data"]) == 1


async def test_get_members_counts_when_prefer_asks_and_says_so(api):
    team = await team_with_roles(api)
    listed = await team.alice.get(f"{team.url}/members?role=admin", headers={"Prefer": "count=exact"})
    assert listed.json["meta"]["total"] == 1
    assert listed.headers["Preference-Applied"] == "count=exact"


async def test_get_members_groups_the_teams_members_by_role(api):
    team = await team_with_roles(api)
    await add_member(api, team.dave, await create_team(team.dave, "Elsewhere"), "carol", "admin")
    grouped = await team.bob.get(f"{team.url}/members?group_by=role")
    expect = [{"role": "admin", "count": 1}, {"role": "member", "count": 1}, {"role": "owner", "count": 1}]
    assert sorted(grouped.json["data"], key=lambda g: g["role"]) == expect, grouped.text


async def test_get_members_of_a_team_you_cannot_read_is_404_even_when_counting(api, expect_problem):
    team = await team_with_roles(api)
    expect_problem(await team.dave.get(f"{team.url}/members?group_by=role"), 404)
    expect_problem(await team.dave.get(f"{team.url}/members?count=exact"), 404)


async def test_get_shared_agents_without_declared_aggregates_refuses_group_by(api, expect_problem):
    team = await team_with_roles(api)
    refused = expect_problem(await team.alice.get(f"{team.url}/agents?group_by=team_id"), 400)
    assert refused["parameter"] == "group_by"


async def test_get_members_with_an_unknown_filter_is_400(api, expect_problem):
    team = await team_with_roles(api)
    refused = await team.alice.get(f"{team.url}/members?colour=red")
    expect_problem(refused, 400)


async def test_get_one_member_returns_the_join_row(api):
    team = await team_with_roles(api)
    got = await team.carol.get(f"{team.url}/members/bob")
    assert got.status == 200
    assert (got.json["data"]["user_id"], got.json["data"]["role"]) == ("bob", "admin")


async def test_get_a_user_who_is_not_a_member_is_404(api, expect_problem):
    team = await team_with_roles(api)
    expect_problem(await team.alice.get(f"{team.url}/members/dave"), 404)


async def test_patch_member_changes_the_role(api):
    team = await team_with_roles(api)
    patched = await team.alice.patch(f"{team.url}/members/carol", json={"role": "admin"})
    assert patched.status == 200, patched.text
    assert patched.json["data"]["role"] == "admin"
    (stored,) = await api.sql("select role from team_members where team_id = $1 and user_id = 'carol'", team.id)
    assert stored["role"] == "admin"


async def test_patch_member_validates_the_role(api, expect_problem):
    team = await team_with_roles(api)
    body = expect_problem(await team.alice.patch(f"{team.url}/members/carol", json={"role": "boss"}), 422)
    assert [e["path"] for e in body["errors"]] == ["/role"]


async def test_patch_member_refuses_to_move_the_row_to_another_user(api, expect_problem):
    team = await team_with_roles(api)
    body = expect_problem(await team.alice.patch(f"{team.url}/members/carol", json={"user_id": "dave"}), 422)
    assert body["errors"][0]["path"] == "/user_id"


async def test_patch_member_names_the_team_id_it_refuses_once(api, expect_problem):
    team = await team_with_roles(api)
    body = expect_problem(await team.alice.patch(f"{team.url}/members/carol", json={"team_id": team.id}), 422)
    assert body["errors"] == [{"path": "/team_id", "message": "'team_id' is read-only here: it is set by the URL"}]


async def test_patch_a_user_who_is_not_a_member_is_404(api, expect_problem):
    team = await team_with_roles(api)
    expect_problem(await team.alice.patch(f"{team.url}/members/dave", json={"role": "admin"}), 404)


async def test_delete_member_returns_204_and_removes_the_row(api):
    team = await team_with_roles(api)
    deleted = await team.alice.delete(f"{team.url}/members/carol")
    assert deleted.status == 204
    rows = await api.sql("select 1 from team_members where team_id = $1 and user_id = 'carol'", team.id)
    assert rows == []


async def test_delete_a_user_who_is_not_a_member_is_204_like_revoking_an_invitation(api):
    """With invitations, "not linked" and "pending, now revoked" must answer alike (no oracle)."""
    team = await team_with_roles(api)
    assert (await team.alice.delete(f"{team.url}/members/dave")).status == 204


async def test_delete_an_agent_that_is_not_shared_is_404(api, expect_problem):
    """A relation without invitations keeps the 404."""
    alice = await api.as_user("alice")
    team_id, agent_id = await create_team(alice), await create_agent(alice)
    expect_problem(await alice.delete(f"/api/teams/{team_id}/agents/{agent_id}"), 404)


# --- /api/teams/{id}/agents ------------------------------------------------------------------------


async def test_post_agent_shares_it_with_the_team(api):
    alice = await api.as_user("alice")
    team_id, agent_id = await create_team(alice), await create_agent(alice)
    shared = await alice.post(f"/api/teams/{team_id}/agents", json={"agent_id": agent_id})
    assert shared.status == 201, shared.text
    assert shared.headers["Location"] == f"/api/teams/{team_id}/agents/{agent_id}"
    rows = await api.sql("select agent_id::text from team_agents where team_id = $1", team_id)
    assert [r["agent_id"] for r in rows] == [agent_id]


async def test_get_agents_lists_the_shared_agents(api):
    alice = await api.as_user("alice")
    team_id = await create_team(alice)
    first, second = await create_agent(alice, "One"), await create_agent(alice, "Two")
    await share_agent(alice, team_id, first)
    await share_agent(alice, team_id, second)
    listed = await alice.get(f"/api/teams/{team_id}/agents?sort=created_at")
    assert [r["agent_id"] for r in listed.json["data"]] == [first, second]


async def test_get_one_shared_agent_returns_the_join_row(api):
    alice = await api.as_user("alice")
    team_id, agent_id = await create_team(alice), await create_agent(alice)
    await share_agent(alice, team_id, agent_id)
    got = await alice.get(f"/api/teams/{team_id}/agents/{agent_id}")
    assert got.status == 200 and got.json["data"]["agent_id"] == agent_id


async def test_get_an_agent_id_that_is_not_a_uuid_is_404(api, expect_problem):
    alice = await api.as_user("alice")
    team_id = await create_team(alice)
    expect_problem(await alice.get(f"/api/teams/{team_id}/agents/not-a-uuid"), 404)


async def test_delete_agent_unshares_it_and_keeps_the_agent(api):
    alice = await api.as_user("alice")
    team_id, agent_id = await create_team(alice), await create_agent(alice)
    await share_agent(alice, team_id, agent_id)
    assert (await alice.delete(f"/api/teams/{team_id}/agents/{agent_id}")).status == 204
    assert await api.sql("select 1 from team_agents where team_id = $1", team_id) == []
    assert (await alice.get(f"/api/agents/{agent_id}")).status == 200


async def test_patch_on_agents_is_405_because_the_join_row_has_no_fields_of_its_own(api, expect_problem):
    alice = await api.as_user("alice")
    team_id, agent_id = await create_team(alice), await create_agent(alice)
    await share_agent(alice, team_id, agent_id)
    refused = await alice.patch(f"/api/teams/{team_id}/agents/{agent_id}", json={})
    expect_problem(refused, 405)


async def test_sharing_the_same_agent_twice_is_409(api, expect_problem):
    alice = await api.as_user("alice")
    team_id, agent_id = await create_team(alice), await create_agent(alice)
    await share_agent(alice, team_id, agent_id)
    expect_problem(await alice.post(f"/api/teams/{team_id}/agents", json={"agent_id": agent_id}), 409)


# --- the parent ------------------------------------------------------------------------------------


async def test_nested_routes_of_an_unknown_team_are_404(api, expect_problem):
    alice = await api.as_user("alice")
    missing = "/api/teams/00000000-0000-0000-0000-000000000000"
    expect_problem(await alice.get(f"{missing}/members"), 404)
    expect_problem(await alice.post(f"{missing}/members", json={"user_id": "alice"}), 404)
    expect_problem(await alice.get("/api/teams/not-a-uuid/agents"), 404)


async def test_nested_writes_are_one_transaction_with_the_hooks(api, expect_problem):
    """A refused write (here: the last owner's demotion) leaves nothing behind."""
    alice = await api.as_user("alice")
    team_id = await create_team(alice)
    expect_problem(await alice.patch(f"/api/teams/{team_id}/members/alice", json={"role": "member"}), 409)
    (stored,) = await api.sql("select role from team_members where team_id = $1", team_id)
    assert stored["role"] == "owner"
