"""Bulk update and delete by filter: PATCH|DELETE /api/{resource}?<filters>, all or nothing."""

from __future__ import annotations

import pytest


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_MAX_BATCH_ITEMS": "3"}


async def make_agents(client, *names, **fields):
    created = await client.post("/api/agents", json=[{"name": n, **fields} for n in names])
    assert created.status == 201, created.text
    return created.json["data"]


async def alive_names(api):
    """The names of the agents not (soft-)deleted, in storage order."""
    return [r[0] for r in await api.sql("select name from agents where deleted_at is null")]


async def events(api, action):
    rows = await api.sql("select record_id from _engine_events where resource = 'agents' and action = $1", action)
    return sorted(r[0] for r in rows)


async def test_bulk_patch_changes_every_matching_row_and_answers_them(api):
    alice = await api.as_user("alice")
    rows = await make_agents(alice, "a", "b", "c", status="active")
    ids = ",".join(r["id"] for r in rows[:2])
    patched = await alice.patch(f"/api/agents?id[in]={ids}", json={"status": "paused"})
    assert patched.status == 200, patched.text
    assert sorted(r["name"] for r in patched.json["data"]) == ["a", "b"]
    stored = await api.sql("select name, status from agents order by name")
    assert [tuple(r) for r in stored] == [("a", "paused"), ("b", "paused"), ("c", "active")]


async def test_bulk_patch_writes_one_event_per_changed_row(api):
    alice = await api.as_user("alice")
    rows = await make_agents(alice, "a", "b", "c")
    await alice.patch("/api/agents?name[in]=a,b", json={"system_prompt": "new"})
    assert await events(api, "updated") == sorted(r["id"] for r in rows[:2])


async def test_bulk_patch_without_a_filter_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    await make_agents(alice, "a")
    expect_problem(await alice.patch("/api/agents", json={"name": "x"}), 400)
    expect_problem(await alice.delete("/api/agents"), 400)


async def test_bulk_patch_leaves_other_users_rows_alone(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    await make_agents(alice, "shared name")
    await make_agents(bob, "shared name")
    patched = await alice.patch("/api/agents?name=shared%20name", json={"system_prompt": "mine"})
    assert [r["user_id"] for r in patched.json["data"]] == ["alice"]
    (bobs,) = await api.sql("select system_prompt from agents where user_id = 'bob'")
    assert bobs[0] is None


async def test_a_domain_rule_refusing_one_row_refuses_all_and_names_it(api, expect_problem):
    alice = await api.as_user("alice")
    fine = await make_agents(alice, "a", "b", status="active")
    final = await make_agents(alice, "c", status="archived")
    problem = expect_problem(await alice.patch("/api/agents?name[in]=a,b,c", json={"status": "paused"}), 409)
    assert problem["row"] == final[0]["id"] and final[0]["id"] in problem["detail"]
    statuses = await api.sql("select status from agents where id = any($1::uuid[])", [r["id"] for r in fine])
    assert {r[0] for r in statuses} == {"active"}
    assert await events(api, "updated") == []


async def test_bulk_patch_validates_each_merged_row(api, expect_problem):
    alice = await api.as_user("alice")
    await make_agents(alice, "a")
    expect_problem(await alice.patch("/api/agents?name=a", json={"status": "bogus"}), 422)


async def test_bulk_patch_refuses_read_only_fields(api, expect_problem):
    alice = await api.as_user("alice")
    await make_agents(alice, "a")
    problem = expect_problem(await alice.patch("/api/agents?name=a", json={"id": "x"}), 422)
    assert [e["path"] for e in problem["errors"]] == ["/id"]


async def test_bulk_patch_matching_nothing_answers_an_empty_list(api):
    alice = await api.as_user("alice")
    patched = await alice.patch("/api/agents?name=nobody", json={"name": "x"})
    assert patched.status == 200 and patched.json == {"data": []}


async def test_bulk_patch_refuses_list_parameters(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.patch("/api/agents?name=a&limit=5", json={"name": "x"}), 400)


async def test_bulk_patch_takes_boolean_groups_like_a_list(api):
    alice = await api.as_user("alice")
    await make_agents(alice, "a", "b", "c", status="active")
    patched = await alice.patch("/api/agents?or=(name=a,name=c)", json={"status": "paused"})
    assert patched.status == 200, patched.text
    assert sorted(r["name"] for r in patched.json["data"]) == ["a", "c"]
    stored = await api.sql("select name, status from agents order by name")
    assert [tuple(r) for r in stored] == [("a", "paused"), ("b", "active"), ("c", "paused")]


async def test_bulk_delete_takes_a_not_group_beside_a_filter(api):
    alice = await api.as_user("alice")
    await make_agents(alice, "a", "b", "c")
    deleted = await alice.delete("/api/agents?name[in]=a,b,c&not=(name=b)")
    assert deleted.status == 200 and deleted.json == {"meta": {"count": 2}}
    assert await alive_names(api) == ["b"]


async def test_a_boolean_group_alone_is_enough_of_a_filter(api):
    alice = await api.as_user("alice")
    await make_agents(alice, "a", "b")
    deleted = await alice.delete("/api/agents?or=(name=a)")
    assert deleted.json == {"meta": {"count": 1}}


async def test_a_bulk_write_filtering_on_a_field_the_caller_may_not_read_is_400_and_writes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    await make_agents(alice, "a", system_prompt="secret plan")
    for query in ("system_prompt[like]=*plan*", "or=(system_prompt[like]=*plan*,name=zzz)"):
        answer = await alice.patch(f"/api/agents?{query}", json={"name": "renamed"})
        expect_problem(answer, 400)
    assert [r[0] for r in await api.sql("select name from agents")] == ["a"]


async def test_bulk_delete_removes_matching_rows_and_counts_them(api):
    alice = await api.as_user("alice")
    await make_agents(alice, "a", "b", "c")
    deleted = await alice.delete("/api/agents?name[in]=a,c")
    assert deleted.status == 200 and deleted.json == {"meta": {"count": 2}}
    assert await alive_names(api) == ["b"]


async def test_bulk_delete_writes_one_event_per_deleted_row(api):
    alice = await api.as_user("alice")
    rows = await make_agents(alice, "a", "b", "c")
    await alice.delete("/api/agents?name[in]=a,b")
    assert await events(api, "deleted") == sorted(r["id"] for r in rows[:2])


async def test_bulk_delete_only_deletes_the_callers_rows(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    await make_agents(alice, "x")
    await make_agents(bob, "x")
    deleted = await alice.delete("/api/agents?name=x")
    assert deleted.json == {"meta": {"count": 1}}
    assert [r[0] for r in await api.sql("select user_id from agents where deleted_at is null")] == ["bob"]


async def test_bulk_delete_of_rows_shared_with_a_team_is_limited_to_the_owner(api):
    # team members may read a shared agent but not delete it: it does not match for them
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    (agent,) = await make_agents(alice, "shared")
    team = (await alice.post("/api/teams", json={"name": "t"})).json["data"]
    await alice.post(f"/api/teams/{team['id']}/agents", json={"agent_id": agent["id"]})
    deleted = await bob.delete(f"/api/agents?id={agent['id']}")
    assert deleted.json == {"meta": {"count": 0}}


async def test_bulk_delete_matching_more_rows_than_the_limit_is_413_and_deletes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    await make_agents(alice, "n1", "n2")
    await make_agents(alice, "n3", "n4")
    expect_problem(await alice.delete("/api/agents?name[like]=n*"), 413)
    assert (await api.sql("select count(*) from agents"))[0][0] == 4
