"""Mass assignment: a non-admin may not set the owner field, id, created_at or updated_at (422
naming the field, nothing written); the owner comes from the credentials; admins may set the owner.
Users read and update only their own row, and email and google_id are read-only for them (sending
a field's stored value back on an update is no change, and allowed)."""

from __future__ import annotations

import pytest

READ_ONLY = {
    "user_id": "bob",
    "id": "00000000-0000-0000-0000-000000000001",
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
}


async def agent_rows(api):
    return [dict(r) for r in await api.sql("select * from agents order by id")]


def assert_names_field(result, field):
    assert result.status == 422, result.text
    assert f"/{field}" in [e["path"] for e in result.json["errors"]]


@pytest.mark.parametrize("field", READ_ONLY)
async def test_a_user_may_not_set_a_read_only_field_on_create(api, field):
    alice = await api.as_user("alice")
    assert_names_field(await alice.post("/api/agents", json={"name": "A", field: READ_ONLY[field]}), field)
    assert await agent_rows(api) == []


@pytest.mark.parametrize("field", READ_ONLY)
async def test_a_user_may_not_set_a_read_only_field_on_update(api, field):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json={"name": "A"})
    before = await agent_rows(api)
    assert_names_field(await alice.patch(created.headers["Location"], json={field: READ_ONLY[field]}), field)
    assert await agent_rows(api) == before


async def test_a_user_may_not_even_send_their_own_id_as_the_owner(api):
    alice = await api.as_user("alice")
    assert_names_field(await alice.post("/api/agents", json={"name": "A", "user_id": "alice"}), "user_id")


async def test_the_owner_of_a_teams_row_is_read_only_too(api):
    alice = await api.as_user("alice")
    assert_names_field(await alice.post("/api/teams", json={"name": "T", "owner_id": "bob"}), "owner_id")


async def test_the_owner_is_set_from_the_token(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json={"name": "A"})
    assert created.json["data"]["user_id"] == "alice"


async def test_the_problem_says_the_owner_comes_from_the_credentials(api):
    alice = await api.as_user("alice")
    result = await alice.post("/api/agents", json={"name": "A", "user_id": "bob"})
    assert "set from your credentials" in result.json["errors"][0]["message"]


async def test_an_admin_may_set_the_owner_on_create(api):
    await api.as_user("alice")
    admin = await api.as_admin()
    created = await admin.post("/api/agents", json={"name": "A", "user_id": "alice"})
    assert created.status == 201
    assert created.json["data"]["user_id"] == "alice"


async def test_an_admin_may_move_a_row_to_another_owner(api):
    alice = await api.as_user("alice")
    await api.as_user("bob")
    created = await alice.post("/api/agents", json={"name": "A"})
    moved = await (await api.as_admin()).patch(created.headers["Location"], json={"user_id": "bob"})
    assert moved.json["data"]["user_id"] == "bob"


async def test_an_admin_without_an_owner_field_owns_what_they_create(api):
    admin = await api.as_admin()
    created = await admin.post("/api/agents", json={"name": "A"})
    assert created.json["data"]["user_id"] == "admin"


# --- users --------------------------------------------------------------------------------------------


async def test_a_user_reads_their_own_row(api):
    alice = await api.as_user("alice")
    assert (await alice.get("/api/users/alice")).json["data"]["email"] == "alice@example.test"


async def test_a_user_updates_their_own_name(api):
    alice = await api.as_user("alice")
    assert (await alice.patch("/api/users/alice", json={"name": "Alice A."})).json["data"]["name"] == "Alice A."


@pytest.mark.parametrize(("field", "value"), [("email", "mine@example.test"), ("google_id", "google-42")])
async def test_a_user_may_not_change_their_protected_fields(api, field, value):
    alice = await api.as_user("alice")
    before = await api.sql("select * from users where id = 'alice'")
    assert_names_field(await alice.patch("/api/users/alice", json={field: value}), field)
    assert await api.sql("select * from users where id = 'alice'") == before


async def test_a_user_may_not_rename_their_id(api):
    alice = await api.as_user("alice")
    assert_names_field(await alice.patch("/api/users/alice", json={"id": "root"}), "id")


async def test_every_refused_field_is_named_at_once(api):
    alice = await api.as_user("alice")
    result = await alice.patch("/api/users/alice", json={"email": "x@example.test", "google_id": "g"})
    assert sorted(e["path"] for e in result.json["errors"]) == ["/email", "/google_id"]


async def test_a_user_may_send_their_protected_fields_unchanged(api):
    alice = await api.as_user("alice")
    result = await alice.patch("/api/users/alice", json={"email": "alice@example.test", "name": "Alice A."})
    assert result.status == 200, result.text
    assert result.json["data"]["name"] == "Alice A."


async def test_a_user_may_replace_their_own_row_sending_its_email_unchanged(api):
    alice = await api.as_user("alice")
    row = (await alice.get("/api/users/alice")).json["data"]
    whole = {k: v for k, v in row.items() if k not in ("id", "created_at", "updated_at")}
    result = await alice.put("/api/users/alice", json={**whole, "name": "Alice A."})
    assert result.status == 200, result.text
    assert (result.json["data"]["name"], result.json["data"]["email"]) == ("Alice A.", "alice@example.test")


async def test_a_user_may_send_the_owner_of_their_row_unchanged_on_update(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json={"name": "A"})
    result = await alice.patch(created.headers["Location"], json={"user_id": "alice", "name": "B"})
    assert result.status == 200, result.text


@pytest.mark.parametrize(("field", "value"), [("email", "new@example.test"), ("google_id", "google-42")])
async def test_an_admin_may_change_a_users_protected_fields(api, field, value):
    await api.as_user("alice")
    admin = await api.as_admin()
    result = await admin.patch("/api/users/alice", json={field: value})
    assert result.status == 200
    assert result.json["data"][field] == value
