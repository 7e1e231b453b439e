"""Write routes refuse a query parameter they do not take, as reads do: a 400 naming it, before
anything is written. The parameters writes do take keep working (filters of bulk writes,
on_conflict of upserts: tests/test_bulk_update_delete.py, tests/test_bulk_upsert.py)."""

from __future__ import annotations

import pytest
from team_helpers import add_member, create_agent, create_team, invite, share_agent

MERGE = {"Prefer": "resolution=merge-duplicates"}


def refused(check_problem, result, parameter: str) -> dict:
    """The 400 a read answers for an unknown parameter: same type, naming the parameter."""
    problem = check_problem(result, 400)
    assert problem["type"].endswith("/bad-request") and problem["parameter"] == parameter, problem
    assert f"unknown query parameter {parameter!r}" in problem["detail"] or f"'{parameter}'" in problem["detail"]
    return problem


async def names(api) -> list[str]:
    return [row["name"] for row in await api.sql("select name from agents where deleted_at is null order by name")]


async def test_a_read_and_a_write_refuse_an_unknown_parameter_with_the_same_problem(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "kept")
    read = refused(expect_problem, await alice.get(f"/api/agents/{agent}?bogus=1"), "bogus")
    written = refused(expect_problem, await alice.patch(f"/api/agents/{agent}?bogus=1", json={"name": "x"}), "bogus")
    assert (read["type"], read["title"]) == (written["type"], written["title"])


async def test_a_create_with_an_unknown_parameter_creates_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    refused(expect_problem, await alice.post("/api/agents?nope=1", json={"name": "new"}), "nope")
    assert await names(api) == []


async def test_a_bulk_create_with_an_unknown_parameter_creates_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    refused(expect_problem, await alice.post("/api/agents?nope=1", json=[{"name": "a"}, {"name": "b"}]), "nope")
    assert await names(api) == []


async def test_an_upsert_with_a_parameter_besides_on_conflict_writes_nothing(api, expect_problem):
    admin = await api.as_admin()
    sent = [{"id": "u1", "email": "u1@example.com"}]
    refused(expect_problem, await admin.post("/api/users?on_conflict=email&x=1", json=sent, headers=MERGE), "x")
    assert await api.sql("select id from users where id = 'u1'") == []


async def test_a_patch_with_an_unknown_parameter_changes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "kept")
    refused(expect_problem, await alice.patch(f"/api/agents/{agent}?bogus=1", json={"name": "changed"}), "bogus")
    assert await names(api) == ["kept"]


async def test_a_delete_with_an_unknown_parameter_deletes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "kept")
    refused(expect_problem, await alice.delete(f"/api/agents/{agent}?x=1"), "x")
    assert await names(api) == ["kept"]


async def test_a_put_with_an_unknown_parameter_writes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "kept")
    refused(expect_problem, await alice.put(f"/api/agents/{agent}?x=1", json={"name": "replaced"}), "x")
    assert await names(api) == ["kept"]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
@pytest.mark.parametrize(
    ("query", "parameter"),
    [("q=kept", "q"), ("count=exact", "count"), ("group_by=status", "group_by"), ("sort=name", "sort")],
)
async def test_a_bulk_write_refuses_list_parameters_it_would_otherwise_ignore(
    api, expect_problem, method, query, parameter
):
    alice = await api.as_user("alice")
    await create_agent(alice, "kept")
    body = {"name": "changed"} if method == "PATCH" else None
    answer = await alice.request(method, f"/api/agents?name[like]=*&{query}", json=body)
    problem = expect_problem(answer, 400)
    assert problem["parameter"] == parameter
    assert await names(api) == ["kept"]


async def test_a_batch_operation_with_an_unknown_parameter_fails_the_batch_and_writes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "kept")
    operations = [
        {"method": "POST", "path": "/api/agents", "body": {"name": "first"}},
        {"method": "PATCH", "path": f"/api/agents/{agent}?bogus=1", "body": {"name": "changed"}},
    ]
    problem = refused(expect_problem, await alice.post("/api/batch", json={"operations": operations}), "bogus")
    assert problem["operation"] == 1
    assert await names(api) == ["kept"]


async def test_adding_to_a_relation_with_an_unknown_parameter_links_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    team, agent = await create_team(alice), await create_agent(alice)
    refused(expect_problem, await alice.post(f"/api/teams/{team}/agents?x=1", json={"agent_id": agent}), "x")
    assert await api.sql("select id from team_agents") == []


async def test_removing_from_a_relation_with_an_unknown_parameter_unlinks_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    team, agent = await create_team(alice), await create_agent(alice)
    await share_agent(alice, team, agent)
    refused(expect_problem, await alice.delete(f"/api/teams/{team}/agents/{agent}?x=1"), "x")
    assert len(await api.sql("select id from team_agents")) == 1


async def test_changing_a_link_with_an_unknown_parameter_changes_nothing(api, expect_problem):
    alice, _ = await api.as_user("alice"), await api.as_user("bob")
    team = await create_team(alice)
    await add_member(api, alice, team, "bob")
    answer = await alice.patch(f"/api/teams/{team}/members/bob?x=1", json={"role": "admin"})
    refused(expect_problem, answer, "x")
    assert [r["role"] for r in await api.sql("select role from team_members where user_id = 'bob'")] == ["member"]


async def test_accepting_an_invitation_with_an_unknown_parameter_accepts_nothing(api, expect_problem):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    team = await create_team(alice)
    await invite(alice, team, "bob")
    refused(expect_problem, await bob.post(f"/api/teams/{team}/members/bob/accept?x=1"), "x")
    assert [r["status"] for r in await api.sql("select status from team_members where user_id = 'bob'")] == ["pending"]


async def test_restoring_a_deleted_row_with_an_unknown_parameter_restores_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "gone")
    await alice.delete(f"/api/agents/{agent}")
    refused(expect_problem, await alice.post(f"/api/agents/{agent}/restore?x=1"), "x")
    assert await names(api) == []


async def test_restoring_a_version_with_an_unknown_parameter_changes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "first")
    await alice.patch(f"/api/agents/{agent}", json={"name": "second"})
    refused(expect_problem, await alice.post(f"/api/agents/{agent}/versions/1/restore?x=1"), "x")
    assert await names(api) == ["second"]


# --- the features' own write routes ----------------------------------------------------------------


async def test_creating_an_api_key_with_an_unknown_parameter_creates_none(api, expect_problem):
    alice = await api.as_user("alice")
    body = {"name": "ci", "scopes": ["agents:read"]}
    refused(expect_problem, await alice.post("/api/me/api-keys?expires=never", json=body), "expires")
    assert (await alice.get("/api/me/api-keys")).json["data"] == []


async def test_creating_a_webhook_with_an_unknown_parameter_creates_none(api, expect_problem):
    admin = await api.as_admin()
    body = {"url": "https://hooks.example.test/in", "resources": ["agents"]}
    refused(expect_problem, await admin.post("/api/webhooks?secret=mine", json=body), "secret")
    assert (await admin.get("/api/webhooks")).json["data"] == []


async def test_a_batch_with_an_unknown_parameter_runs_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    operations = [{"method": "POST", "path": "/api/agents", "body": {"name": "first"}}]
    refused(expect_problem, await alice.post("/api/batch?dry_run=1", json={"operations": operations}), "dry_run")
    assert await names(api) == []


async def test_logout_takes_only_the_all_parameter(api, expect_problem):
    refused(expect_problem, await api.anonymous.post("/auth/logout?everywhere=1"), "everywhere")
