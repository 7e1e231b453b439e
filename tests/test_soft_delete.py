"""`soft_delete:` DELETE marks the row deleted: the example app's agents and teams (docs/resources.md)."""

from __future__ import annotations

from engine.features.soft_delete.rows import ALIVE_KEY
from engine.http.keys import MANAGERS
from engine.kernel.identity import Identity


async def create_agent(client, **fields):
    created = await client.post("/api/agents", json={"name": "Helper", **fields})
    assert created.status == 201, created.text
    return created.json["data"]


async def share(api, alice, member: str, agent: dict) -> dict:
    team = (await alice.post("/api/teams", json={"name": "T"})).json["data"]
    await api.sql(
        "insert into team_members (team_id, user_id, role, status) values ($1, $2, 'member', 'active')",
        team["id"],
        member,
    )
    assert (await alice.post(f"/api/teams/{team['id']}/agents", json={"agent_id": agent["id"]})).status == 201
    return team


async def test_delete_keeps_the_row_marked_deleted(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    assert (await alice.delete(f"/api/agents/{agent['id']}")).status == 204
    (row,) = await api.sql("select deleted_at from agents where id = $1", agent["id"])
    assert row["deleted_at"] is not None


async def test_a_deleted_row_is_404_on_read_patch_and_delete(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    await alice.delete(f"/api/agents/{agent['id']}")
    expect_problem(await alice.get(f"/api/agents/{agent['id']}"), 404)
    expect_problem(await alice.patch(f"/api/agents/{agent['id']}", json={"name": "x"}), 404)
    expect_problem(await alice.delete(f"/api/agents/{agent['id']}"), 404)


async def test_a_deleted_row_is_absent_from_lists_even_for_admins(api):
    alice, admin = await api.as_user("alice"), await api.as_admin()
    kept, gone = await create_agent(alice, name="kept"), await create_agent(alice, name="gone")
    await alice.delete(f"/api/agents/{gone['id']}")
    for client in (alice, admin):
        listed = await client.get("/api/agents")
        assert [r["id"] for r in listed.json["data"]] == [kept["id"]]


async def test_a_deleted_row_is_absent_from_includes_and_nested_routes(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    team = (await alice.post("/api/teams", json={"name": "T"})).json["data"]
    await alice.post(f"/api/teams/{team['id']}/agents", json={"agent_id": agent["id"]})
    await alice.delete(f"/api/agents/{agent['id']}")
    nested = await alice.get(f"/api/teams/{team['id']}/agents")
    assert nested.status == 200
    assert all(link["agent"] is None for link in nested.json["data"])
    included = await alice.get(f"/api/teams/{team['id']}?include=agents")
    assert all(link["agent"] is None for link in included.json["data"]["agents"])


async def test_a_deleted_team_no_longer_shares_its_agents(api, expect_problem):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    agent = await create_agent(alice)
    team = await share(api, alice, "bob", agent)
    assert (await bob.get(f"/api/agents/{agent['id']}")).status == 200
    assert (await alice.delete(f"/api/teams/{team['id']}")).status == 204
    expect_problem(await bob.get(f"/api/agents/{agent['id']}"), 404)
    expect_problem(await bob.get(f"/api/teams/{team['id']}"), 404)


async def test_deleted_only_lists_the_deleted_rows_the_caller_may_update(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    gone = await create_agent(alice, name="gone")
    await create_agent(alice, name="kept")
    bobs = await create_agent(bob, name="bob's")
    await alice.delete(f"/api/agents/{gone['id']}")
    await bob.delete(f"/api/agents/{bobs['id']}")
    listed = await alice.get("/api/agents?deleted=only")
    assert listed.status == 200, listed.text
    assert [r["id"] for r in listed.json["data"]] == [gone["id"]]
    assert listed.json["data"][0]["deleted_at"] is not None


async def test_deleted_only_hides_rows_the_caller_may_read_but_not_update(api):
    """Bob reads a shared agent; once it is deleted he does not see it, deleted or not."""
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    agent = await create_agent(alice)
    await share(api, alice, "bob", agent)
    await alice.delete(f"/api/agents/{agent['id']}")
    assert (await bob.get("/api/agents?deleted=only")).json["data"] == []


async def test_deleted_takes_only_the_value_only(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.get("/api/agents?deleted=all"), 400)


async def test_deleted_is_an_unknown_parameter_on_a_resource_without_soft_delete(api, expect_problem):
    admin = await api.as_admin()
    expect_problem(await admin.get("/api/users?deleted=only"), 400)


async def test_deleted_only_filters_and_pages_like_a_list(api):
    alice = await api.as_user("alice")
    for name in ("a", "b", "c"):
        agent = await create_agent(alice, name=name)
        await alice.delete(f"/api/agents/{agent['id']}")
    first = await alice.get("/api/agents?deleted=only&sort=name&limit=2")
    assert [r["name"] for r in first.json["data"]] == ["a", "b"]
    cursor = first.json["meta"]["next_cursor"]
    assert cursor is not None and f"cursor={cursor}" in first.headers["Link"]
    second = await alice.get(first.headers["Link"].split(";")[0].strip("<>"))
    assert [r["name"] for r in second.json["data"]] == ["c"]
    filtered = await alice.get("/api/agents?deleted=only&name=c")
    assert [r["name"] for r in filtered.json["data"]] == ["c"]


async def test_deleted_only_counts_the_deleted_rows_the_caller_may_update(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    for owner in (alice, alice, bob):
        agent = await create_agent(owner)
        await owner.delete(f"/api/agents/{agent['id']}")
    await create_agent(alice, name="alive")
    listed = await alice.get("/api/agents?deleted=only&count=exact&limit=1")
    assert listed.status == 200, listed.text
    assert (listed.json["meta"]["total"], listed.json["meta"]["total_is"]) == (2, "exact")
    preferred = await alice.get("/api/agents?deleted=only", headers={"Prefer": "count=exact"})
    assert preferred.json["meta"]["total"] == 2


async def test_deleted_only_groups_the_deleted_rows_the_caller_may_update(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    for owner, status in ((alice, "active"), (alice, "active"), (alice, "paused"), (bob, "active")):
        agent = await create_agent(owner, status=status)
        await owner.delete(f"/api/agents/{agent['id']}")
    await create_agent(alice, status="active")
    grouped = await alice.get("/api/agents?deleted=only&group_by=status&aggregate=count")
    assert grouped.status == 200, grouped.text
    assert {g["status"]: g["count"] for g in grouped.json["data"]} == {"active": 2, "paused": 1}


async def test_restore_brings_a_deleted_row_back(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    await alice.delete(f"/api/agents/{agent['id']}")
    restored = await alice.post(f"/api/agents/{agent['id']}/restore")
    assert restored.status == 200, restored.text
    assert restored.json["data"]["deleted_at"] is None
    assert (await alice.get(f"/api/agents/{agent['id']}")).status == 200


async def test_restore_of_a_living_row_is_404(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    expect_problem(await alice.post(f"/api/agents/{agent['id']}/restore"), 404)


async def test_restore_by_someone_who_may_not_update_the_row_is_404(api, expect_problem):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    agent = await create_agent(alice)
    await alice.delete(f"/api/agents/{agent['id']}")
    expect_problem(await bob.post(f"/api/agents/{agent['id']}/restore"), 404)


async def test_delete_and_restore_emit_deleted_and_updated_events(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    await alice.delete(f"/api/agents/{agent['id']}")
    await alice.post(f"/api/agents/{agent['id']}/restore")
    rows = await api.sql("select action from _engine_events where record_id = $1 order by id", str(agent["id"]))
    assert [r["action"] for r in rows] == ["created", "deleted", "updated"]


async def test_delete_and_restore_are_versions(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    await alice.delete(f"/api/agents/{agent['id']}")
    await alice.post(f"/api/agents/{agent['id']}/restore")
    found = (await alice.get(f"/api/agents/{agent['id']}/versions")).json["data"]
    assert [(v["version"], v["action"]) for v in found] == [(3, "updated"), (2, "deleted"), (1, "created")]
    assert found[0]["data"]["deleted_at"] is None


async def test_soft_deleting_a_team_keeps_its_memberships(api):
    alice = await api.as_user("alice")
    team = (await alice.post("/api/teams", json={"name": "T"})).json["data"]
    await alice.delete(f"/api/teams/{team['id']}")
    rows = await api.sql("select count(*) as n from team_members where team_id = $1", team["id"])
    assert rows[0]["n"] == 1
    restored = await alice.post(f"/api/teams/{team['id']}/restore")
    assert restored.status == 200
    assert (await alice.get(f"/api/teams/{team['id']}/members")).json["data"][0]["user_id"] == "alice"


async def test_nested_routes_of_a_deleted_team_are_404(api, expect_problem):
    alice = await api.as_user("alice")
    team = (await alice.post("/api/teams", json={"name": "T"})).json["data"]
    await alice.delete(f"/api/teams/{team['id']}")
    expect_problem(await alice.get(f"/api/teams/{team['id']}/members"), 404)
    expect_problem(await alice.post(f"/api/teams/{team['id']}/members", json={"user_id": "alice"}), 404)


async def test_a_deleted_agent_cannot_be_shared_with_a_team(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    team = (await alice.post("/api/teams", json={"name": "T"})).json["data"]
    await alice.delete(f"/api/agents/{agent['id']}")
    shared = await alice.post(f"/api/teams/{team['id']}/agents", json={"agent_id": agent["id"]})
    problem = expect_problem(shared, 422)
    assert problem["errors"] == [{"path": "/agent_id", "message": "no agents row you may update has this id"}]


async def test_versions_of_a_deleted_agent_are_404_until_it_is_restored(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    await alice.delete(f"/api/agents/{agent['id']}")
    expect_problem(await alice.get(f"/api/agents/{agent['id']}/versions"), 404)
    await alice.post(f"/api/agents/{agent['id']}/restore")
    assert (await alice.get(f"/api/agents/{agent['id']}/versions")).status == 200


async def test_restoring_a_version_of_a_deleted_agent_is_404_and_leaves_it_deleted(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, name="One")
    await alice.patch(f"/api/agents/{agent['id']}", json={"name": "Two"})
    await alice.delete(f"/api/agents/{agent['id']}")
    expect_problem(await alice.post(f"/api/agents/{agent['id']}/versions/1/restore"), 404)
    (row,) = await api.sql("select name, deleted_at from agents where id = $1", agent["id"])
    assert row["name"] == "Two" and row["deleted_at"] is not None


async def test_restore_with_a_stale_if_match_is_412(api, expect_problem):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    await alice.delete(f"/api/agents/{agent['id']}")
    stale = await alice.post(f"/api/agents/{agent['id']}/restore", headers={"If-Match": '"stale"'})
    expect_problem(stale, 412)
    assert (await alice.get(f"/api/agents/{agent['id']}")).status == 404


async def test_every_callers_access_answer_shares_one_alive_condition(api):
    # The access memo keeps each caller's predicates; the "not deleted" one is the same for all.
    agents = api.app[MANAGERS]["agents"]

    alice = await agents.predicates("read", Identity(user_id="alice"))
    bob = await agents.predicates("read", Identity(user_id="bob"))

    [alices] = [p for p in alice if p.key == (ALIVE_KEY,)]
    [bobs] = [p for p in bob if p.key == (ALIVE_KEY,)]
    assert alices is bobs
