"""Bulk create: POST /api/{resource} with a JSON array creates every item or none, in one statement."""

from __future__ import annotations

import pytest

from engine.kernel.errors import Problem
from engine.kernel.hooks import hookimpl
from engine.plugin import Conflict


async def agent_count(api) -> int:
    return (await api.sql("select count(*) from agents"))[0][0]


async def created_events(api) -> list[str]:
    rows = await api.sql(
        "select record_id from _engine_events where resource = 'agents' and action = 'created' order by id"
    )
    return [r[0] for r in rows]


async def test_bulk_create_answers_201_with_the_rows_in_the_order_sent(api):
    alice = await api.as_user("alice")
    names = [f"agent {i}" for i in range(5)]
    created = await alice.post("/api/agents", json=[{"name": n} for n in names])
    assert created.status == 201, created.text
    assert [r["name"] for r in created.json["data"]] == names


async def test_bulk_create_fills_owner_and_defaults_per_row(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json=[{"name": "a"}, {"name": "b", "status": "active"}])
    rows = created.json["data"]
    assert [r["user_id"] for r in rows] == ["alice", "alice"]
    assert [r["status"] for r in rows] == ["draft", "active"]
    assert rows[0]["parameters"] == {} and rows[1]["tools"] == []


async def test_bulk_create_stores_every_row(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json=[{"name": f"n{i}"} for i in range(50)])
    assert created.status == 201
    assert await agent_count(api) == 50


async def test_bulk_create_writes_one_event_per_row_in_order(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json=[{"name": f"n{i}"} for i in range(3)])
    assert await created_events(api) == [r["id"] for r in created.json["data"]]


async def test_invalid_item_is_named_by_its_index_and_nothing_is_stored(api, expect_problem):
    alice = await api.as_user("alice")
    items = [{"name": "ok"}, {"name": "ok too"}, {"name": "fine"}, {"name": ""}, {"name": "x", "status": "bogus"}]
    problem = expect_problem(await alice.post("/api/agents", json=items), 422)
    paths = {e["path"] for e in problem["errors"]}
    assert paths == {"/3/name", "/4/status"}
    assert await agent_count(api) == 0 and await created_events(api) == []


async def test_read_only_field_in_an_item_is_refused_with_its_path(api, expect_problem):
    alice = await api.as_user("alice")
    items = [{"name": "a"}, {"name": "b", "id": "8d0c5a6e-4c1e-4a55-9a53-3b0d8c9f4a10"}]
    problem = expect_problem(await alice.post("/api/agents", json=items), 422)
    assert [e["path"] for e in problem["errors"]] == ["/1/id"]


async def test_an_item_that_is_not_an_object_is_named(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.post("/api/agents", json=[{"name": "a"}, 7]), 422)
    assert [e["path"] for e in problem["errors"]] == ["/1"]


async def test_another_users_owner_value_is_refused(api, expect_problem):
    alice = await api.as_user("alice")
    response = await alice.post("/api/agents", json=[{"name": "a"}, {"name": "b", "user_id": "bob"}])
    problem = expect_problem(response, 422)
    assert [e["path"] for e in problem["errors"]] == ["/1/user_id"]
    assert await agent_count(api) == 0


async def test_roles_are_checked_for_bulk_create(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.post("/api/team_members", json=[{"team_id": "x", "user_id": "y"}]), 403)


async def test_unique_conflict_between_items_creates_nothing(api, expect_problem):
    admin = await api.as_admin()
    items = [
        {"id": "a", "email": "same@example.com", "name": "A"},
        {"id": "b", "email": "same@example.com", "name": "B"},
    ]
    problem = expect_problem(await admin.post("/api/users", json=items), 409)
    assert problem["item"] == 1 and problem["fields"] == ["email"]
    assert (await api.sql("select count(*) from users where email = 'same@example.com'"))[0][0] == 0


async def test_an_item_conflicting_with_a_stored_row_creates_nothing(api, expect_problem):
    admin = await api.as_admin()
    created = await admin.post("/api/users", json={"id": "a", "email": "taken@example.com", "name": "A"})
    assert created.status == 201, created.text
    items = [
        {"id": "b", "email": "new@example.com", "name": "B"},
        {"id": "c", "email": "taken@example.com", "name": "C"},
    ]
    problem = expect_problem(await admin.post("/api/users", json=items), 409)
    assert problem["fields"] == ["email"]
    assert (await api.sql("select count(*) from users where email = 'new@example.com'"))[0][0] == 0


async def test_more_items_than_the_limit_is_413(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.post("/api/agents", json=[{"name": "a"}] * 1001), 413)
    assert problem["max_items"] == 1000
    assert await agent_count(api) == 0


async def test_an_empty_array_creates_nothing(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json=[])
    assert created.status == 201 and created.json == {"data": []}


async def test_secrets_are_masked_in_the_answer(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json=[{"name": "a", "secrets": {"github": "ghp_x"}}, {"name": "b"}])
    assert [r["secrets"] for r in created.json["data"]] == [{"github": "set"}, {}]
    (stored,) = await api.sql("select secrets::text from agents where name = 'a'")
    assert "ghp_x" not in stored[0]


class RefuseThird:
    @hookimpl
    def before_write(self, resource, action, data, previous):
        if resource.name == "agents" and action == "create" and data.get("name") == "refused":
            raise Conflict("no agents called refused")


@pytest.mark.parametrize("engine_plugins", [[RefuseThird()]])
async def test_a_before_write_refusal_names_the_item_and_rolls_back(api, expect_problem):
    alice = await api.as_user("alice")
    items = [{"name": "a"}, {"name": "b"}, {"name": "refused"}]
    problem = expect_problem(await alice.post("/api/agents", json=items), 409)
    assert problem["item"] == 2 and "no agents called refused" in problem["detail"]
    assert await agent_count(api) == 0 and await created_events(api) == []


async def test_json_arrays_and_objects_are_stored_per_row(api):
    alice = await api.as_user("alice")
    items = [
        {"name": "a", "tools": [{"name": "search"}, {"name": "calc"}], "parameters": {"temperature": 0.5}},
        {"name": "b", "tools": []},
        {"name": "c", "tools": [{"name": "x", "config": {"k": [1, 2]}}]},
    ]
    created = await alice.post("/api/agents", json=items)
    assert created.status == 201, created.text
    stored = await api.sql("select name, tools, parameters from agents order by name")
    assert [(r["name"], r["tools"], r["parameters"]) for r in stored] == [
        ("a", items[0]["tools"], {"temperature": 0.5}),
        ("b", [], {}),
        ("c", items[2]["tools"], {}),
    ]


async def test_json_values_change_per_row_in_a_bulk_patch(api):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json=[{"name": "a"}, {"name": "b"}])
    patched = await alice.patch("/api/agents?name[in]=a,b", json={"tools": [{"name": "t1"}, {"name": "t2"}]})
    assert patched.status == 200, patched.text
    rows = await api.sql("select tools from agents")
    assert [r[0] for r in rows] == [[{"name": "t1"}, {"name": "t2"}]] * 2


async def test_fields_the_caller_may_not_read_are_left_out_of_each_changed_row(api):
    # a team member may change nothing of a shared agent, but the answer of a bulk write by its owner
    # shows system_prompt to the owner: the read rules apply per row, in one query
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json=[{"name": "a", "system_prompt": "secret plan"}, {"name": "b"}])
    assert [r["system_prompt"] for r in created.json["data"]] == ["secret plan", None]


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"name": "a", "name": "b"}]',
        b'[{"name": "a"}, {"name": NaN}]',
        b'[{"name": "a\\u0000"}]',
        b'[{"name": "\\ud800"}]',
        b'[{"name": "a", "parameters": {"max_tokens": 99999999999999999999}}]',
        b'[{"name": "a"',
    ],
)
async def test_an_array_body_is_parsed_as_strictly_as_an_object(api, raw):
    alice = await api.as_user("alice")
    answer = await alice.request("POST", "/api/agents", data=raw, headers={"Content-Type": "application/json"})
    assert answer.status in (400, 422), answer.text
    assert (await api.sql("select count(*) from agents"))[0][0] == 0


class OwnProblem(Problem):
    status, title, slug = 409, "Conflict", "own-problem"

    def __init__(self, name: str):  # a constructor of its own: the engine must not call it again
        super().__init__(f"{name} is taken in our other system")


class RefuseWithOwnProblem:
    @hookimpl
    def before_write(self, resource, action, data):
        if resource.name == "agents" and data.get("name") == "taken":
            raise OwnProblem(data["name"])


@pytest.mark.parametrize("engine_plugins", [[RefuseWithOwnProblem()]])
async def test_a_plugins_own_problem_type_is_named_by_item(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.post("/api/agents", json=[{"name": "a"}, {"name": "taken"}]), 409)
    assert problem["item"] == 1 and problem["type"].endswith("own-problem")
    assert problem["detail"] == "item 1: taken is taken in our other system"
