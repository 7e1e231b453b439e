"""`history:` keeps every version of a row: the example app's agents (docs/resources.md, `history`)."""

from __future__ import annotations

import pytest


async def create_agent(client, **fields):
    created = await client.post("/api/agents", json={"name": "Helper", **fields})
    assert created.status == 201, created.text
    return created.json["data"]


async def versions(client, agent_id: str, query: str = "") -> list[dict]:
    listed = await client.get(f"/api/agents/{agent_id}/versions{query}")
    assert listed.status == 200, listed.text
    return listed.json["data"]


async def test_create_and_each_update_record_a_numbered_version_newest_first(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, system_prompt="v1")
    await alice.patch(f"/api/agents/{agent['id']}", json={"system_prompt": "v2"})
    await alice.patch(f"/api/agents/{agent['id']}", json={"system_prompt": "v3", "status": "active"})
    found = await versions(alice, agent["id"])
    assert [(v["version"], v["action"], v["data"]["system_prompt"]) for v in found] == [
        (3, "updated", "v3"),
        (2, "updated", "v2"),
        (1, "created", "v1"),
    ]
    assert {v["actor"] for v in found} == {"alice"}


async def test_a_version_is_timed_by_its_write(api):
    """`at` is the time of the write's transaction: the created_at / updated_at that write stored."""
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    patched = (await alice.patch(f"/api/agents/{agent['id']}", json={"name": "Later"})).json["data"]
    found = await versions(alice, agent["id"])
    assert [v["at"] for v in found] == [patched["updated_at"], agent["created_at"]]


async def test_a_version_holds_the_row_as_the_write_left_it(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, system_prompt="Be brief.", parameters={"temperature": 0.5})
    patched = (await alice.patch(f"/api/agents/{agent['id']}", json={"name": "Renamed"})).json["data"]
    got = await alice.get(f"/api/agents/{agent['id']}/versions/2")
    assert got.status == 200
    data = got.json["data"]["data"]
    assert {k: data[k] for k in ("name", "system_prompt", "parameters", "status", "user_id")} == {
        k: patched[k] for k in ("name", "system_prompt", "parameters", "status", "user_id")
    }


async def test_a_patch_that_changes_nothing_records_no_version(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    assert (await alice.patch(f"/api/agents/{agent['id']}", json={})).status == 200
    assert [v["version"] for v in await versions(alice, agent["id"])] == [1]


async def test_a_refused_update_records_no_version(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    expect_problem(await alice.patch(f"/api/agents/{agent['id']}", json={"status": "gone"}), 422)
    assert [v["version"] for v in await versions(alice, agent["id"])] == [1]


async def test_a_delete_records_the_deletion_as_a_version_without_data(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    assert (await alice.delete(f"/api/agents/{agent['id']}")).status == 204
    (row,) = await api.sql(
        "select version, action, actor, data from agents_history where record_id = $1 order by version desc limit 1",
        agent["id"],
    )
    assert dict(row) == {"version": 2, "action": "deleted", "actor": "alice", "data": None}


async def test_secrets_are_never_stored_in_a_version(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, secrets={"github": "ghp_very_secret"})
    await alice.patch(f"/api/agents/{agent['id']}", json={"secrets": {"github": "ghp_other_secret"}})
    rows = await api.sql("select data::text as data from agents_history where record_id = $1", agent["id"])
    assert len(rows) == 2
    assert all("secret" not in row["data"] and "ghp_" not in row["data"] for row in rows)


async def test_versions_page_with_a_cursor(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    for i in range(4):
        await alice.patch(f"/api/agents/{agent['id']}", json={"name": f"n{i}"})
    first = await alice.get(f"/api/agents/{agent['id']}/versions?limit=2")
    assert [v["version"] for v in first.json["data"]] == [5, 4]
    cursor = first.json["meta"]["next_cursor"]
    second = await alice.get(f"/api/agents/{agent['id']}/versions?limit=2&cursor={cursor}")
    third = await alice.get(f"/api/agents/{agent['id']}/versions?limit=2&cursor={second.json['meta']['next_cursor']}")
    assert [v["version"] for v in second.json["data"]] == [3, 2]
    assert [v["version"] for v in third.json["data"]] == [1]
    assert third.json["meta"]["next_cursor"] is None


async def test_a_bad_cursor_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    expect_problem(await alice.get(f"/api/agents/{agent['id']}/versions?cursor=abc"), 400)


async def test_versions_of_a_row_the_caller_cannot_read_are_404(api, expect_problem):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    agent = await create_agent(alice)
    expect_problem(await bob.get(f"/api/agents/{agent['id']}/versions"), 404)
    expect_problem(await bob.get(f"/api/agents/{agent['id']}/versions/1"), 404)
    expect_problem(await bob.post(f"/api/agents/{agent['id']}/versions/1/restore"), 404)


async def test_a_missing_version_is_404(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    expect_problem(await alice.get(f"/api/agents/{agent['id']}/versions/2"), 404)
    expect_problem(await alice.get(f"/api/agents/{agent['id']}/versions/zero"), 404)


@pytest.mark.parametrize(
    "number", ["0", "-1", "1.5", "1e3", "+1", "%D9%A1", "99999999999999999999", "9223372036854775807"]
)
async def test_a_version_number_that_is_not_one_of_the_rows_is_404_on_read_and_restore(api, expect_problem, number):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    expect_problem(await alice.get(f"/api/agents/{agent['id']}/versions/{number}"), 404)
    expect_problem(await alice.post(f"/api/agents/{agent['id']}/versions/{number}/restore"), 404)
    assert [v["version"] for v in await versions(alice, agent["id"])] == [1]


@pytest.mark.parametrize("query", ["?foo=1", "?name=Helper", "?cursor=9&cursor=8", "/1?limit=1", "/1?fields=name"])
async def test_an_unknown_or_repeated_query_parameter_of_the_versions_routes_is_400(api, expect_problem, query):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    expect_problem(await alice.get(f"/api/agents/{agent['id']}/versions{query}"), 400)


async def test_a_secret_a_version_holds_from_before_it_was_write_only_is_never_returned(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    await api.sql(
        "insert into agents_history (record_id, version, action, data) values ($1, 2, 'updated', $2)",
        agent["id"],
        {"name": "Old", "secrets": {"github": "ghp_from_before"}},
    )
    found = await versions(alice, agent["id"])
    one = (await alice.get(f"/api/agents/{agent['id']}/versions/2")).json["data"]
    assert found[0]["data"] == {"name": "Old"} and one["data"] == {"name": "Old"}


async def test_restore_makes_version_n_current_as_a_new_version(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, system_prompt="first prompt", parameters={"temperature": 0.2})
    await alice.patch(f"/api/agents/{agent['id']}", json={"system_prompt": "second", "parameters": {"model": "m"}})
    restored = await alice.post(f"/api/agents/{agent['id']}/versions/1/restore")
    assert restored.status == 200, restored.text
    row = restored.json["data"]
    assert row["system_prompt"] == "first prompt" and row["parameters"] == {"temperature": 0.2}
    assert restored.headers["ETag"]
    found = await versions(alice, agent["id"])
    assert [(v["version"], v["action"]) for v in found][:1] == [(3, "updated")]
    assert found[0]["data"]["system_prompt"] == "first prompt"


async def test_restore_clears_a_field_the_version_did_not_have(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    await alice.patch(f"/api/agents/{agent['id']}", json={"system_prompt": "added later"})
    restored = await alice.post(f"/api/agents/{agent['id']}/versions/1/restore")
    assert restored.status == 200, restored.text
    assert restored.json["data"]["system_prompt"] is None


async def test_restore_emits_an_updated_event(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, name="Before")
    await alice.patch(f"/api/agents/{agent['id']}", json={"name": "After"})
    await alice.post(f"/api/agents/{agent['id']}/versions/1/restore")
    rows = await api.sql(
        "select action, changes from _engine_events where record_id = $1 order by id", str(agent["id"])
    )
    assert [r["action"] for r in rows] == ["created", "updated", "updated"]
    assert rows[-1]["changes"]["name"] == {"before": "After", "after": "Before"}


async def test_restore_of_the_deletion_version_is_409(api, expect_problem):
    admin = await api.as_admin()
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    await api.sql(
        "insert into agents_history (record_id, version, action, actor, data) values ($1, 2, 'deleted', 'x', null)",
        agent["id"],
    )
    expect_problem(await admin.post(f"/api/agents/{agent['id']}/versions/2/restore"), 409)


async def test_restore_needs_the_right_to_update_the_row(api, expect_problem):
    """A team member who reads a shared agent may read its versions but not restore one."""
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    agent = await create_agent(alice, system_prompt="p1")
    await alice.patch(f"/api/agents/{agent['id']}", json={"name": "Two"})
    team = (await alice.post("/api/teams", json={"name": "T"})).json["data"]
    await api.sql(
        "insert into team_members (team_id, user_id, role, status) values ($1, 'bob', 'member', 'active')", team["id"]
    )
    assert (await alice.post(f"/api/teams/{team['id']}/agents", json={"agent_id": agent["id"]})).status == 201
    assert len(await versions(bob, agent["id"])) == 2
    expect_problem(await bob.post(f"/api/agents/{agent['id']}/versions/1/restore"), 403)


async def test_a_field_hidden_from_the_caller_is_hidden_in_every_version(api):
    """Team members do not read an agent's system_prompt: nor in its versions."""
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    agent = await create_agent(alice, system_prompt="secret sauce")
    await alice.patch(f"/api/agents/{agent['id']}", json={"system_prompt": "more sauce"})
    team = (await alice.post("/api/teams", json={"name": "T"})).json["data"]
    await api.sql(
        "insert into team_members (team_id, user_id, role, status) values ($1, 'bob', 'member', 'active')", team["id"]
    )
    await alice.post(f"/api/teams/{team['id']}/agents", json={"agent_id": agent["id"]})
    found = await versions(bob, agent["id"])
    assert len(found) == 2 and all("system_prompt" not in v["data"] for v in found)
    one = await bob.get(f"/api/agents/{agent['id']}/versions/1")
    assert "system_prompt" not in one.json["data"]["data"]
    assert "system_prompt" in (await versions(alice, agent["id"]))[0]["data"]


async def test_restore_obeys_the_domain_rules_of_an_update(api, expect_problem):
    """The agents' `transitions:`: archived is final, so no version can bring an archived agent back to draft."""
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    await alice.patch(f"/api/agents/{agent['id']}", json={"status": "archived"})
    problem = expect_problem(await alice.post(f"/api/agents/{agent['id']}/versions/1/restore"), 409)
    assert problem["requested_status"] == "draft"
    assert [v["version"] for v in await versions(alice, agent["id"])] == [2, 1]


async def test_restore_of_a_version_the_schema_no_longer_accepts_is_422_and_records_nothing(api, expect_problem):
    """A version is validated as a PATCH body would be: one written under an older schema may not fit."""
    alice = await api.as_user("alice")
    agent = await create_agent(alice, name="Now")
    await api.sql(
        "insert into agents_history (record_id, version, action, data) values ($1, 2, 'updated', $2)",
        agent["id"],
        {**agent, "name": "Old", "tools": "not a list"},
    )
    expect_problem(await alice.post(f"/api/agents/{agent['id']}/versions/2/restore"), 422)
    assert (await alice.get(f"/api/agents/{agent['id']}")).json["data"]["name"] == "Now"
    assert [v["version"] for v in await versions(alice, agent["id"])] == [2, 1]


async def test_an_agent_deleted_by_its_owners_cascade_records_its_deletion(api):
    """Deleting a user removes their agents (on_delete: cascade) in the database: each gets its version."""
    alice, admin = await api.as_user("alice"), await api.as_admin()
    agent = await create_agent(alice)
    assert (await admin.delete("/api/users/alice")).status == 204
    rows = await api.sql(
        "select version, action, actor, data from agents_history where record_id = $1 order by version", agent["id"]
    )
    assert [(r["version"], r["action"], r["actor"], r["data"]) for r in rows][1:] == [(2, "deleted", "admin", None)]


async def test_restore_of_a_version_honours_if_match(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, name="One")
    await alice.patch(f"/api/agents/{agent['id']}", json={"name": "Two"})
    stale = await alice.post(f"/api/agents/{agent['id']}/versions/1/restore", headers={"If-Match": '"stale"'})
    expect_problem(stale, 412)
    assert [v["version"] for v in await versions(alice, agent["id"])] == [2, 1]
