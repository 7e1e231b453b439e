"""The round's features meet on the example app: bulk writes keep history and soft delete, counts and
search skip deleted rows, and an API key's scopes bound a bulk write and a batch as they bound one row."""

from __future__ import annotations

from test_api_keys import make_key, with_key


async def create_agents(client, *names: str) -> list[dict]:
    created = await client.post("/api/agents", json=[{"name": name} for name in names])
    assert created.status == 201, created.text
    return created.json["data"]


async def test_a_bulk_delete_of_a_soft_deleted_resource_marks_the_rows_and_they_can_be_restored(api):
    alice = await api.as_user("alice")
    first, second = await create_agents(alice, "old one", "old two")
    deleted = await alice.delete("/api/agents?name[like]=old*")
    assert deleted.status == 200, deleted.text
    assert deleted.json["meta"]["count"] == 2
    rows = await api.sql("select id from agents where deleted_at is not null order by name")
    assert [r["id"] for r in rows] == [first["id"], second["id"]]
    listed = await alice.get("/api/agents?deleted=only")
    assert {r["id"] for r in listed.json["data"]} == {first["id"], second["id"]}
    assert (await alice.post(f"/api/agents/{first['id']}/restore")).status == 200


async def test_a_bulk_create_records_the_first_version_of_every_row(api):
    alice = await api.as_user("alice")
    for agent in await create_agents(alice, "a", "b", "c"):
        versions = await alice.get(f"/api/agents/{agent['id']}/versions")
        assert versions.status == 200, versions.text
        assert [(v["version"], v["action"]) for v in versions.json["data"]] == [(1, "created")]
        assert versions.json["data"][0]["data"]["name"] == agent["name"]
        assert not any(key.startswith("_search_") for key in versions.json["data"][0]["data"])


async def test_a_bulk_update_records_a_version_per_changed_row(api):
    alice = await api.as_user("alice")
    agents = await create_agents(alice, "draft 1", "draft 2")
    changed = await alice.patch("/api/agents?name[like]=draft*", json={"status": "active"})
    assert changed.status == 200, changed.text
    for agent in agents:
        versions = (await alice.get(f"/api/agents/{agent['id']}/versions")).json["data"]
        assert [v["action"] for v in versions] == ["updated", "created"]


async def test_counts_and_search_leave_out_soft_deleted_rows(api):
    alice = await api.as_user("alice")
    kept, gone = await create_agents(alice, "kept lighthouse", "gone lighthouse")
    assert (await alice.delete(f"/api/agents/{gone['id']}")).status == 204
    counted = await alice.get("/api/agents?count=exact")
    assert counted.json["meta"]["total"] == 1
    found = await alice.get("/api/agents?q=lighthouse")
    assert [r["id"] for r in found.json["data"]] == [kept["id"]]
    grouped = await alice.get("/api/agents?group_by=status&aggregate=count")
    assert sum(group["count"] for group in grouped.json["data"]) == 1


async def test_a_read_only_key_can_neither_bulk_delete_nor_run_a_batch_that_writes(api, expect_problem):
    alice = await api.as_user("alice")
    (agent,) = await create_agents(alice, "keep me")
    reader = with_key(api, (await make_key(alice, ["agents:read"]))["key"])
    expect_problem(await reader.delete("/api/agents?name=keep me"), 403)
    batch = {"operations": [{"method": "PATCH", "path": f"/api/agents/{agent['id']}", "body": {"name": "x"}}]}
    refused = await reader.post("/api/batch", json=batch)
    assert refused.status == 403, refused.text
    assert (await alice.get(f"/api/agents/{agent['id']}")).json["data"]["name"] == "keep me"
