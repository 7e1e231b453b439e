"""A write points a reference only at a row its caller may read (`check: read`, the default): a
hidden row answers exactly as a missing one, on every write path, so no write tells whether a
hidden row exists or attaches to it. `check: exists` lets a reference point at any existing row.

folders and notes belong to their owners; a note names its folder (`check: read`) and, to show
`check: exists`, a folder it was copied from. A shelf everyone reads needs no check at all.
"""

from __future__ import annotations

import uuid

import pytest

from engine.http.keys import MANAGERS

SPEC = """
version: 1
resources:
  folders:
    schema: folder.json
    owner: user_id
  shelves:
    schema: shelf.json
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [admin]}
  notes:
    schema: note.json
    owner: user_id
    unique: [[user_id, title]]
    references:
      folder_id: {resource: folders, on_delete: cascade}
      copied_from: {resource: folders, on_delete: set null, check: exists}
      shelf_id: {resource: shelves, on_delete: set null}
"""


def schemas(object_schema):
    key = {"type": "string", "format": "uuid"}
    return {
        "folder.json": object_schema(
            {"id": {**key, "readOnly": True}, "user_id": {"type": "string"}, "name": {"type": "string"}}
        ),
        "shelf.json": object_schema({"id": {**key, "readOnly": True}, "label": {"type": "string"}}),
        "note.json": object_schema(
            {
                "id": {**key, "readOnly": True},
                "user_id": {"type": "string"},
                "folder_id": key,
                "copied_from": {"type": ["string", "null"], "format": "uuid"},
                "shelf_id": {"type": ["string", "null"], "format": "uuid"},
                "text": {"type": "string"},
                "title": {"type": "string"},
            },
            ["folder_id"],
        ),
    }


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    return str(write_spec(SPEC, schemas(schema_of)))


MISSING = [{"path": "/folder_id", "message": "no folders row with this id"}]


async def folder_of(client) -> str:
    created = await client.post("/api/folders", json={"name": "mine"})
    assert created.status == 201, created.text
    return created.json["data"]["id"]


@pytest.fixture
async def alice(api):
    return api.with_token(api.token("alice"))


@pytest.fixture
async def bob(api):
    return api.with_token(api.token("bob"))


async def test_creating_a_note_in_another_users_folder_answers_as_for_a_missing_folder(api, alice, bob, expect_problem):
    hidden = await folder_of(bob)
    in_hidden = expect_problem(await alice.post("/api/notes", json={"folder_id": hidden}), 422)
    in_nothing = expect_problem(await alice.post("/api/notes", json={"folder_id": str(uuid.uuid4())}), 422)
    assert in_hidden["errors"] == in_nothing["errors"] == MISSING
    assert in_hidden["detail"] == in_nothing["detail"]
    assert await api.sql("SELECT id FROM notes") == []


async def test_a_note_in_the_callers_own_folder_is_created(alice):
    created = await alice.post("/api/notes", json={"folder_id": await folder_of(alice), "text": "hi"})
    assert created.status == 201, created.text


async def test_moving_a_note_into_another_users_folder_answers_as_for_a_missing_folder(alice, bob, expect_problem):
    note = (await alice.post("/api/notes", json={"folder_id": await folder_of(alice)})).json["data"]
    moved = await alice.patch(f"/api/notes/{note['id']}", json={"folder_id": await folder_of(bob)})
    assert expect_problem(moved, 422)["errors"] == MISSING
    assert (await alice.get(f"/api/notes/{note['id']}")).json["data"]["folder_id"] == note["folder_id"]


async def test_a_put_of_a_whole_row_may_keep_a_reference_its_caller_no_longer_reads(api, alice, bob):
    """A note left in a folder that is no longer readable (here moved to bob by an admin) can still
    be sent back whole: only a change of the reference is checked."""
    note = (await alice.post("/api/notes", json={"folder_id": await folder_of(alice), "text": "a"})).json["data"]
    await api.sql("UPDATE folders SET user_id = 'bob' WHERE id = $1", uuid.UUID(note["folder_id"]))
    whole = {k: v for k, v in note.items() if k in ("folder_id", "text", "copied_from", "shelf_id")}
    put = await alice.put(f"/api/notes/{note['id']}", json={**whole, "text": "b"})
    assert put.status == 200, put.text
    patched = await alice.patch(f"/api/notes/{note['id']}", json={"folder_id": note["folder_id"], "text": "c"})
    assert patched.status == 200, patched.text


async def test_a_bulk_create_names_the_item_pointing_at_a_hidden_folder(api, alice, bob, expect_problem):
    mine, hidden = await folder_of(alice), await folder_of(bob)
    refused = await alice.post("/api/notes", json=[{"folder_id": mine}, {"folder_id": hidden}])
    problem = expect_problem(refused, 422)
    assert [e["path"] for e in problem["errors"]] == ["/1/folder_id"], problem
    assert await api.sql("SELECT id FROM notes") == []


async def test_an_upsert_into_a_hidden_folder_answers_as_for_a_missing_folder(alice, bob, expect_problem):
    hidden = await alice.put(f"/api/notes/{uuid.uuid4()}", json={"folder_id": await folder_of(bob)})
    missing = await alice.put(f"/api/notes/{uuid.uuid4()}", json={"folder_id": str(uuid.uuid4())})
    assert expect_problem(hidden, 422)["errors"] == expect_problem(missing, 422)["errors"]


async def test_a_batch_operation_refuses_a_hidden_folder(alice, bob, expect_problem):
    hidden = await folder_of(bob)
    batch = {"operations": [{"method": "POST", "path": "/api/notes", "body": {"folder_id": hidden}}]}
    refused = await alice.post("/api/batch", json=batch)
    problem = expect_problem(refused, 422)
    assert any(e["path"].endswith("/folder_id") for e in problem["errors"]), problem


async def test_check_exists_lets_a_reference_point_at_a_hidden_row(alice, bob):
    created = await alice.post(
        "/api/notes", json={"folder_id": await folder_of(alice), "copied_from": await folder_of(bob)}
    )
    assert created.status == 201, created.text


async def test_a_reference_to_a_resource_everyone_reads_is_not_checked_beyond_its_existence(alice, bob):
    shelf = (await bob.post("/api/shelves", json={"label": "top"})).json["data"]["id"]
    created = await alice.post("/api/notes", json={"folder_id": await folder_of(alice), "shelf_id": shelf})
    assert created.status == 201, created.text


async def test_an_admin_may_point_a_reference_at_any_row(api, bob):
    admin = await api.as_admin()
    created = await admin.post("/api/notes", json={"folder_id": await folder_of(bob), "user_id": "bob"})
    assert created.status == 201, created.text


def folder_questions(api, monkeypatch) -> list:
    """The questions asked about folders a caller may read (one entry per statement built)."""
    asked: list = []
    queries = api.app[MANAGERS]["folders"].queries
    original = queries.readable_keys

    def counted(predicates):
        asked.append(predicates)
        return original(predicates)

    monkeypatch.setattr(queries, "readable_keys", counted)
    return asked


async def test_a_bulk_create_asks_once_per_target_resource(api, alice, bob, expect_problem, monkeypatch):
    """Forty notes in four folders: one question about the folders, not one per note."""
    folders = [await folder_of(alice) for _ in range(3)] + [await folder_of(bob)]
    statements = folder_questions(api, monkeypatch)
    refused = await alice.post("/api/notes", json=[{"folder_id": folders[i % 4]} for i in range(40)])
    assert [e["path"] for e in expect_problem(refused, 422)["errors"]] == ["/3/folder_id"]
    created = await alice.post("/api/notes", json=[{"folder_id": folders[i % 3]} for i in range(40)])
    assert created.status == 201, created.text
    assert len(statements) == 2  # one per request


async def test_an_upsert_of_many_items_asks_once_per_target_resource(api, alice, bob, expect_problem, monkeypatch):
    """Forty notes upserted into three folders, then again (updating them): one question about the
    folders per request, not one per item; an item pointing at a hidden folder is still refused."""
    folders = [await folder_of(alice) for _ in range(3)]
    statements = folder_questions(api, monkeypatch)
    upsert, merge = "/api/notes?on_conflict=user_id,title", {"Prefer": "resolution=merge-duplicates"}
    for shift in (0, 1):  # creates, then updates moving each note to another folder
        items = [{"title": f"n{i}", "folder_id": folders[(i + shift) % 3]} for i in range(40)]
        written = await alice.post(upsert, json=items, headers=merge)
        assert written.status in (200, 201), written.text
    assert len(statements) == 2  # one per request
    hidden = [{"title": "n0", "folder_id": folders[0]}, {"title": "n1", "folder_id": await folder_of(bob)}]
    refused = await alice.post(upsert, json=hidden, headers=merge)
    assert [e["path"] for e in expect_problem(refused, 422)["errors"]] == ["/1/folder_id"]


async def test_an_upsert_item_with_a_malformed_reference_gets_its_validation_error(alice, expect_problem):
    items = [{"title": "ok", "folder_id": await folder_of(alice)}, {"title": "bad", "folder_id": "not-a-uuid"}]
    merge = {"Prefer": "resolution=merge-duplicates"}
    refused = await alice.post("/api/notes?on_conflict=user_id,title", json=items, headers=merge)
    assert [e["path"] for e in expect_problem(refused, 422)["errors"]] == ["/1/folder_id"]
