"""Nested create: POST /api/teams with "members" and "agents" inline, linked in the same transaction."""

from __future__ import annotations

from team_helpers import create_agent


async def test_a_team_is_created_with_its_members_invited_and_agents_shared(api):
    alice = await api.as_user("alice")
    await api.as_user("bob")
    agent = await create_agent(alice)
    body = {"name": "Core", "members": [{"user_id": "bob", "role": "admin"}], "agents": [{"agent_id": agent}]}
    created = await alice.post("/api/teams", json=body)
    assert created.status == 201, created.text
    team = created.json["data"]["id"]
    members = await api.sql("select user_id, role, status from team_members where team_id = $1 order by user_id", team)
    assert [tuple(r) for r in members] == [("alice", "owner", "active"), ("bob", "admin", "pending")]
    shared = await api.sql("select agent_id from team_agents where team_id = $1", team)
    assert [str(r[0]) for r in shared] == [agent]


async def test_the_answer_is_the_parent_row_without_the_relation_keys(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/teams", json={"name": "Core", "agents": []})
    assert created.status == 201 and "agents" not in created.json["data"]


async def test_an_agent_the_caller_may_not_change_refuses_everything_and_points_into_the_item(api, expect_problem):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    mine, bobs = await create_agent(alice), await create_agent(bob)
    body = {"name": "Core", "agents": [{"agent_id": mine}, {"agent_id": bobs}]}
    problem = expect_problem(await alice.post("/api/teams", json=body), 422)
    assert [e["path"] for e in problem["errors"]] == ["/agents/1/agent_id"]
    assert (await api.sql("select count(*) from teams"))[0][0] == 0
    assert (await api.sql("select count(*) from team_agents"))[0][0] == 0


async def test_an_invalid_member_is_named_by_its_place_in_the_body(api, expect_problem):
    alice = await api.as_user("alice")
    body = {"name": "Core", "members": [{"user_id": "bob"}, {"user_id": "carol", "role": "boss"}]}
    problem = expect_problem(await alice.post("/api/teams", json=body), 422)
    assert [e["path"] for e in problem["errors"]] == ["/members/1/role"]
    assert (await api.sql("select count(*) from teams"))[0][0] == 0


async def test_a_member_item_may_not_set_the_key_the_parent_supplies(api, expect_problem):
    alice = await api.as_user("alice")
    body = {"name": "Core", "members": [{"user_id": "bob", "team_id": "x"}]}
    problem = expect_problem(await alice.post("/api/teams", json=body), 422)
    assert [e["path"] for e in problem["errors"]] == ["/members/0/team_id"]


async def test_a_relation_that_is_not_a_list_is_422(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.post("/api/teams", json={"name": "Core", "agents": {"agent_id": "x"}}), 422)
    assert [e["path"] for e in problem["errors"]] == ["/agents"]


async def test_nested_create_writes_the_events_of_every_row(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    await alice.post("/api/teams", json={"name": "Core", "agents": [{"agent_id": agent}]})
    rows = await api.sql("select resource, action from _engine_events where resource like 'team%' order by id")
    assert ("team_agents", "created") in [tuple(r) for r in rows] and ("teams", "created") in [tuple(r) for r in rows]
