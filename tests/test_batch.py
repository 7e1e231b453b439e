"""POST /api/batch: write operations in one transaction, one result each, `$ref` to earlier results."""

from __future__ import annotations

import pytest


async def batch(client, *operations):
    return await client.post("/api/batch", json={"operations": list(operations)})


async def test_batch_runs_every_operation_and_answers_each(api):
    alice = await api.as_user("alice")
    answer = await batch(
        alice,
        {"method": "POST", "path": "/api/agents", "body": {"name": "one"}},
        {"method": "POST", "path": "/api/agents", "body": [{"name": "two"}, {"name": "three"}]},
    )
    assert answer.status == 200, answer.text
    results = answer.json["results"]
    assert [r["status"] for r in results] == [201, 201]
    assert results[0]["body"]["data"]["name"] == "one"
    assert [r["name"] for r in results[1]["body"]["data"]] == ["two", "three"]
    assert (await api.sql("select count(*) from agents"))[0][0] == 3


async def test_a_later_operation_uses_an_earlier_result_by_ref(api):
    alice = await api.as_user("alice")
    answer = await batch(
        alice,
        {"method": "POST", "path": "/api/agents", "body": {"name": "shared"}},
        {"method": "POST", "path": "/api/teams", "body": {"name": "team"}},
        {"method": "PATCH", "path": "/api/agents/{0/data/id}", "body": {"system_prompt": {"$ref": "1/data/name"}}},
    )
    assert answer.status == 200, answer.text
    assert answer.json["results"][2]["body"]["data"]["system_prompt"] == "team"


async def test_one_failing_operation_rolls_back_all_and_is_named(api, expect_problem):
    alice = await api.as_user("alice")
    answer = await batch(
        alice,
        {"method": "POST", "path": "/api/agents", "body": {"name": "kept?"}},
        {"method": "POST", "path": "/api/agents", "body": {"name": ""}},
    )
    problem = expect_problem(answer, 422)
    assert problem["operation"] == 1 and "operation 1" in problem["detail"]
    assert [e["path"] for e in problem["errors"]] == ["/name"]
    assert (await api.sql("select count(*) from agents"))[0][0] == 0
    assert (await api.sql("select count(*) from _engine_events where resource = 'agents'"))[0][0] == 0


async def test_batch_applies_row_access_per_operation(api, expect_problem):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    agent = (await alice.post("/api/agents", json={"name": "mine"})).json["data"]
    answer = await batch(
        bob,
        {"method": "POST", "path": "/api/agents", "body": {"name": "bobs"}},
        {"method": "DELETE", "path": f"/api/agents/{agent['id']}"},
    )
    assert expect_problem(answer, 404)["operation"] == 1
    assert [r[0] for r in await api.sql("select name from agents")] == ["mine"]


async def test_batch_applies_roles_per_operation(api, expect_problem):
    alice = await api.as_user("alice")
    answer = await batch(alice, {"method": "POST", "path": "/api/users", "body": {"name": "x", "email": "x@y.z"}})
    assert expect_problem(answer, 403)["operation"] == 0


async def test_batch_writes_events_for_each_operation(api):
    alice = await api.as_user("alice")
    answer = await batch(
        alice,
        {"method": "POST", "path": "/api/agents", "body": {"name": "a"}},
        {"method": "DELETE", "path": "/api/agents/{0/data/id}"},
    )
    assert [r["status"] for r in answer.json["results"]] == [201, 204]
    rows = await api.sql("select action from _engine_events where resource = 'agents' order by id")
    assert [r[0] for r in rows] == ["created", "deleted"]


async def test_bulk_writes_by_filter_run_in_a_batch(api):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json=[{"name": "a"}, {"name": "b"}])
    answer = await batch(
        alice,
        {"method": "PATCH", "path": "/api/agents?name=a", "body": {"system_prompt": "p"}},
        {"method": "DELETE", "path": "/api/agents?name=b"},
    )
    assert [r["body"] for r in answer.json["results"]][1] == {"meta": {"count": 1}}
    live = await api.sql("select name, system_prompt from agents where deleted_at is null")
    assert [tuple(r) for r in live] == [("a", "p")]


async def test_more_than_100_operations_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    ops = [{"method": "POST", "path": "/api/agents", "body": {"name": "a"}}] * 101
    expect_problem(await batch(alice, *ops), 400)


async def test_a_ref_to_a_later_operation_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    answer = await batch(alice, {"method": "POST", "path": "/api/agents", "body": {"name": {"$ref": "0/data/id"}}})
    problem = expect_problem(answer, 400)
    assert problem["operation"] == 0
    assert problem["detail"] == "operation 0 failed: $ref '0/data/id' must start with an earlier operation"


async def test_an_unknown_path_is_400_naming_the_operation(api, expect_problem):
    alice = await api.as_user("alice")
    answer = await batch(alice, {"method": "POST", "path": "/api/nothing", "body": {}})
    problem = expect_problem(answer, 400)
    assert problem["operation"] == 0
    assert problem["detail"] == "operation 0 failed: '/api/nothing' is not a resource collection or item"


async def test_a_malformed_operation_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await batch(alice, {"method": "GET", "path": "/api/agents"}), 400)
    expect_problem(await alice.post("/api/batch", json={"operations": []}), 400)


async def test_put_and_bulk_create_run_in_a_batch(api):
    alice = await api.as_user("alice")
    key = "6f1f4f0e-9a55-4d6b-9a57-1b2c3d4e5f60"
    answer = await batch(
        alice,
        {"method": "PUT", "path": f"/api/agents/{key}", "body": {"name": "put"}},
        {"method": "PUT", "path": f"/api/agents/{key}", "body": {"name": "replaced"}},
        {"method": "POST", "path": "/api/agents", "body": [{"name": "x"}, {"name": {"$ref": "1/data/name"}}]},
    )
    assert [r["status"] for r in answer.json["results"]] == [201, 200, 201], answer.text
    assert sorted(r[0] for r in await api.sql("select name from agents")) == ["replaced", "replaced", "x"]


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_RATE_LIMIT": "5/minute"}


async def test_each_operation_counts_against_the_rate_limit(api, expect_problem):
    alice = await api.as_user("alice")
    ops = [{"method": "POST", "path": "/api/agents", "body": {"name": f"n{i}"}} for i in range(5)]
    assert (await batch(alice, *ops)).status == 200  # five operations: five tokens
    expect_problem(await batch(alice, ops[0]), 429)
    assert (await api.sql("select count(*) from agents"))[0][0] == 5


async def test_a_batch_beyond_the_rate_limit_writes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    ops = [{"method": "POST", "path": "/api/agents", "body": {"name": f"n{i}"}} for i in range(6)]
    problem = expect_problem(await batch(alice, *ops), 429)
    assert problem["operation"] == 5
    assert (await api.sql("select count(*) from agents"))[0][0] == 0
