"""Create, read, update and delete on the example app, as a signed-in user (alice)."""

from __future__ import annotations

from datetime import datetime


async def create_agent(alice, **fields):
    created = await alice.post("/api/agents", json={"name": "Helper", **fields})
    assert created.status == 201, created.text
    return created


async def test_create_returns_201_the_row_and_its_location(api):
    alice = await api.as_user("alice")
    created = await create_agent(alice, system_prompt="Be brief.")
    row = created.json["data"]
    assert created.headers["Location"] == f"/api/agents/{row['id']}"
    assert row["name"] == "Helper" and row["system_prompt"] == "Be brief."


async def test_create_fills_defaults_and_the_owner(api):
    alice = await api.as_user("alice")
    row = (await create_agent(alice)).json["data"]
    assert row["user_id"] == "alice"
    assert row["status"] == "draft" and row["parameters"] == {} and row["tools"] == []


async def test_created_row_is_stored(api):
    alice = await api.as_user("alice")
    row = (await create_agent(alice, parameters={"temperature": 0.5})).json["data"]
    (stored,) = await api.sql("select name, user_id, parameters from agents where id = $1", row["id"])
    assert dict(stored) == {"name": "Helper", "user_id": "alice", "parameters": {"temperature": 0.5}}


async def test_get_by_id_returns_the_row(api):
    alice = await api.as_user("alice")
    created = await create_agent(alice, tools=[{"name": "search"}])
    got = await alice.get(created.headers["Location"])
    assert got.status == 200
    assert got.headers["Content-Type"].startswith("application/json")
    assert got.json == {"data": created.json["data"]}


async def test_list_returns_the_rows_with_meta(api):
    alice = await api.as_user("alice")
    await create_agent(alice, name="One")
    await create_agent(alice, name="Two")
    listed = await alice.get("/api/agents?sort=name")
    assert [r["name"] for r in listed.json["data"]] == ["One", "Two"]
    assert listed.json["meta"] == {"limit": 20, "next_cursor": None}


async def test_patch_changes_only_the_fields_sent(api):
    alice = await api.as_user("alice")
    created = await create_agent(alice, system_prompt="Be brief.", status="active")
    patched = await alice.patch(created.headers["Location"], json={"name": "Renamed"})
    assert patched.status == 200
    row = patched.json["data"]
    assert row["name"] == "Renamed"
    assert row["system_prompt"] == "Be brief." and row["status"] == "active"
    assert (await alice.get(created.headers["Location"])).json["data"] == row


async def test_patch_is_validated_on_the_merged_row(api, expect_problem):
    alice = await api.as_user("alice")
    created = await create_agent(alice)
    patched = await alice.patch(created.headers["Location"], json={"name": "", "status": "gone"})
    errors = expect_problem(patched, 422)["errors"]
    assert [e["path"] for e in errors] == ["/name", "/status"]


async def test_patch_can_clear_an_optional_field_only_when_the_schema_allows_null(api, expect_problem):
    alice = await api.as_user("alice")
    created = await create_agent(alice, system_prompt="Be brief.")
    patched = await alice.patch(created.headers["Location"], json={"system_prompt": None})
    assert expect_problem(patched, 422)["errors"][0]["path"] == "/system_prompt"


async def test_patch_of_a_nullable_field_to_null_is_stored(api):
    admin = await api.as_admin()
    await admin.post("/api/users", json={"id": "carol", "email": "carol@example.test", "google_id": "g-1"})
    patched = await admin.patch("/api/users/carol", json={"google_id": None})
    assert patched.status == 200, patched.text
    assert patched.json["data"]["google_id"] is None


async def test_patch_with_an_empty_object_changes_nothing(api):
    alice = await api.as_user("alice")
    created = await create_agent(alice)
    patched = await alice.patch(created.headers["Location"], json={})
    assert patched.status == 200
    assert patched.json["data"] == created.json["data"]


async def test_delete_returns_204_and_then_the_row_is_404(api):
    alice = await api.as_user("alice")
    created = await create_agent(alice)
    deleted = await alice.delete(created.headers["Location"])
    assert deleted.status == 204 and deleted.body == b""
    assert (await alice.get(created.headers["Location"])).status == 404
    assert (await alice.delete(created.headers["Location"])).status == 404
    assert (await alice.patch(created.headers["Location"], json={"name": "x"})).status == 404


async def test_created_at_and_updated_at_are_set_on_create(api):
    alice = await api.as_user("alice")
    row = (await create_agent(alice)).json["data"]
    created_at = datetime.fromisoformat(row["created_at"])
    assert created_at.tzinfo is not None
    assert row["updated_at"] == row["created_at"]


async def test_patch_moves_updated_at_and_keeps_created_at(api):
    alice = await api.as_user("alice")
    row = (await create_agent(alice)).json["data"]
    patched = (await alice.patch(f"/api/agents/{row['id']}", json={"name": "Later"})).json["data"]
    assert patched["created_at"] == row["created_at"]
    assert datetime.fromisoformat(patched["updated_at"]) > datetime.fromisoformat(row["updated_at"])


async def test_other_users_agent_is_404_on_read_patch_and_delete(api):
    alice = await api.as_user("alice")
    bob = await api.as_user("bob")
    location = (await create_agent(alice)).headers["Location"]
    assert (await bob.get(location)).status == 404
    assert (await bob.patch(location, json={"name": "Mine now"})).status == 404
    assert (await bob.delete(location)).status == 404
    assert (await bob.get("/api/agents")).json["data"] == []


async def test_text_primary_key_row_is_addressable_by_its_id(api):
    admin = await api.as_admin()
    created = await admin.post("/api/users", json={"id": "dora", "email": "dora@example.test", "name": "Dora"})
    assert created.status == 201
    assert created.headers["Location"] == "/api/users/dora"
    assert (await admin.get("/api/users/dora")).json["data"]["name"] == "Dora"


async def test_primary_key_cannot_change_on_patch(api, expect_problem):
    admin = await api.as_admin()
    await admin.post("/api/users", json={"id": "erin", "email": "erin@example.test"})
    problem = expect_problem(await admin.patch("/api/users/erin", json={"id": "erin2"}), 422)
    assert problem["errors"] == [
        {"path": "/id", "message": "'id' is read-only: it is the primary key and cannot change"}
    ]
    assert (await admin.get("/api/users/erin")).status == 200
