"""Upserts: PUT /api/{resource}/{id} and POST ?on_conflict=<unique key> with Prefer: resolution=merge-duplicates."""

from __future__ import annotations

import uuid

import pytest

MERGE = {"Prefer": "resolution=merge-duplicates"}
SPEC = """
version: 1
resources:
  notes:
    schema: schemas/note.json
    owner: user_id
    unique: [[slug]]
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
    events: {emit: [created, updated, deleted]}
    rate_limit: {delete: 1/minute}
  tags:
    schema: schemas/tag.json
    owner: user_id
    unique: [[user_id, name]]
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
  labels:
    schema: schemas/tag.json
    owner: user_id
    unique: [[user_id, name]]
    soft_delete: {}
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
  pages:
    schema: schemas/page.json
    primary_key: slug
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
"""
PAGE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["slug", "title"],
    "properties": {"slug": {"type": "string", "minLength": 1}, "title": {"type": "string"}},
}
TAG = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "id": {"type": "string", "format": "uuid", "readOnly": True},
        "user_id": {"type": "string"},
        "name": {"type": "string"},
        "color": {"type": "string"},
    },
}
NOTE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["slug"],
    "properties": {
        "id": {"type": "string", "format": "uuid", "readOnly": True},
        "user_id": {"type": "string"},
        "slug": {"type": "string", "minLength": 1},
        "text": {"type": "string"},
        "color": {"type": "string", "default": "yellow"},
    },
}


@pytest.fixture
def engine_spec_path(write_spec):
    return str(write_spec(SPEC, {"schemas/note.json": NOTE, "schemas/tag.json": TAG, "schemas/page.json": PAGE}))


async def notes(api):
    return [tuple(r) for r in await api.sql("select slug, user_id, text, color from notes order by slug")]


async def test_put_creates_the_row_with_the_id_in_the_path(api):
    alice = await api.as_user("alice")
    key = str(uuid.uuid4())
    put = await alice.put(f"/api/notes/{key}", json={"slug": "a", "text": "hi"})
    assert put.status == 201, put.text
    assert put.json["data"]["id"] == key and put.headers["Location"] == f"/api/notes/{key}"
    assert await notes(api) == [("a", "alice", "hi", "yellow")]


async def test_put_replaces_an_existing_row_and_resets_fields_left_out(api):
    alice = await api.as_user("alice")
    key = str(uuid.uuid4())
    await alice.put(f"/api/notes/{key}", json={"slug": "a", "text": "hi", "color": "blue"})
    put = await alice.put(f"/api/notes/{key}", json={"slug": "a2"})
    assert put.status == 200, put.text
    assert await notes(api) == [("a2", "alice", None, "yellow")]


async def test_put_on_another_users_row_is_a_conflict_and_changes_nothing(api, expect_problem):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    key = str(uuid.uuid4())
    await alice.put(f"/api/notes/{key}", json={"slug": "a", "text": "alice's"})
    expect_problem(await bob.put(f"/api/notes/{key}", json={"slug": "b", "text": "bob's"}), 409)
    assert await notes(api) == [("a", "alice", "alice's", "yellow")]


async def test_put_validates_the_body(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.put(f"/api/notes/{uuid.uuid4()}", json={"text": "no slug"}), 422)


async def test_put_writes_created_then_updated_events(api):
    alice = await api.as_user("alice")
    key = str(uuid.uuid4())
    await alice.put(f"/api/notes/{key}", json={"slug": "a"})
    await alice.put(f"/api/notes/{key}", json={"slug": "a", "text": "more"})
    rows = await api.sql("select action, record_id from _engine_events where resource = 'notes' order by id")
    assert [tuple(r) for r in rows] == [("created", key), ("updated", key)]


async def test_merge_inserts_a_new_key(api):
    alice = await api.as_user("alice")
    answer = await alice.post("/api/notes?on_conflict=slug", json={"slug": "a", "text": "one"}, headers=MERGE)
    assert answer.status == 201, answer.text
    assert await notes(api) == [("a", "alice", "one", "yellow")]


async def test_merge_updates_the_row_with_the_same_key(api):
    alice = await api.as_user("alice")
    await alice.post("/api/notes", json={"slug": "a", "text": "one", "color": "blue"})
    answer = await alice.post("/api/notes?on_conflict=slug", json={"slug": "a", "text": "two"}, headers=MERGE)
    assert answer.status == 200, answer.text
    assert await notes(api) == [("a", "alice", "two", "blue")]


async def test_merge_of_an_array_inserts_and_updates_in_one_go(api):
    alice = await api.as_user("alice")
    await alice.post("/api/notes", json={"slug": "a", "text": "old"})
    items = [{"slug": "a", "text": "new"}, {"slug": "b", "text": "fresh"}]
    answer = await alice.post("/api/notes?on_conflict=slug", json=items, headers=MERGE)
    assert answer.status == 201 and [r["slug"] for r in answer.json["data"]] == ["a", "b"]
    assert await notes(api) == [("a", "alice", "new", "yellow"), ("b", "alice", "fresh", "yellow")]


async def test_merge_over_another_users_row_is_a_unique_conflict_and_changes_nothing(api, expect_problem):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    await alice.post("/api/notes", json={"slug": "a", "text": "alice's"})
    items = [{"slug": "b", "text": "bob's"}, {"slug": "a", "text": "taken"}]
    problem = expect_problem(await bob.post("/api/notes?on_conflict=slug", json=items, headers=MERGE), 409)
    plain = expect_problem(await bob.post("/api/notes", json={"slug": "a"}), 409)
    assert problem["detail"] == plain["detail"] and problem["fields"] == ["slug"]
    assert await notes(api) == [("a", "alice", "alice's", "yellow")]


async def test_on_conflict_must_name_a_declared_unique_key(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.post("/api/notes?on_conflict=text", json={"slug": "a"}, headers=MERGE), 400)


async def test_on_conflict_needs_the_prefer_header(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.post("/api/notes?on_conflict=slug", json={"slug": "a"}), 400)


async def test_a_bulk_delete_takes_from_the_delete_actions_rate_limit(api, expect_problem):
    alice = await api.as_user("alice")
    await alice.post("/api/notes", json=[{"slug": "a"}, {"slug": "b"}])
    assert (await alice.delete("/api/notes?slug=a")).status == 200
    expect_problem(await alice.delete("/api/notes?slug=b"), 429)
    assert (await alice.get("/api/notes")).status == 200  # other actions keep their own bucket


async def test_a_key_with_the_owner_field_matches_the_callers_own_row(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    upsert = "/api/tags?on_conflict=user_id,name"
    assert (await alice.post(upsert, json={"name": "red", "color": "1"}, headers=MERGE)).status == 201
    assert (await bob.post(upsert, json={"name": "red", "color": "2"}, headers=MERGE)).status == 201
    again = await alice.post(upsert, json={"name": "red", "color": "3"}, headers=MERGE)
    assert again.status == 200, again.text
    rows = await api.sql("select user_id, color from tags order by user_id")
    assert [tuple(r) for r in rows] == [("alice", "3"), ("bob", "2")]


async def test_put_refuses_a_body_key_that_differs_from_the_url(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.put(f"/api/notes/{uuid.uuid4()}", json={"slug": "a", "id": "other"}), 422)
    assert [e["path"] for e in problem["errors"]] == ["/id"]


async def test_put_replaces_a_row_whose_key_the_body_carries_or_leaves_to_the_url(api):
    alice = await api.as_user("alice", roles=["admin"])
    assert (await alice.put("/api/pages/home", json={"slug": "home", "title": "one"})).status == 201
    again = await alice.put("/api/pages/home", json={"slug": "home", "title": "two"})
    assert again.status == 200, again.text
    left_out = await alice.put("/api/pages/home", json={"title": "three"})
    assert left_out.status == 200, left_out.text
    assert [tuple(r) for r in await api.sql("select slug, title from pages")] == [("home", "three")]


async def test_put_replacing_a_row_refuses_a_body_key_that_differs_from_the_url(api, expect_problem):
    alice = await api.as_user("alice", roles=["admin"])
    await alice.put("/api/pages/home", json={"slug": "home", "title": "one"})
    problem = expect_problem(await alice.put("/api/pages/home", json={"slug": "away", "title": "two"}), 422)
    assert [e["path"] for e in problem["errors"]] == ["/slug"]
    assert [tuple(r) for r in await api.sql("select slug, title from pages")] == [("home", "one")]


async def test_merge_on_the_primary_key_updates_the_row_that_has_it(api):
    alice = await api.as_user("alice", roles=["admin"])
    upsert = "/api/pages?on_conflict=slug"
    assert (await alice.post(upsert, json=[{"slug": "home", "title": "one"}], headers=MERGE)).status == 201
    items = [{"slug": "home", "title": "two"}, {"slug": "faq", "title": "q"}]
    again = await alice.post(upsert, json=items, headers=MERGE)
    assert again.status == 201, again.text
    rows = await api.sql("select slug, title from pages order by slug")
    assert [tuple(r) for r in rows] == [("faq", "q"), ("home", "two")]


CREATE_ONLY = {"If-None-Match": "*"}  # RFC 9110: create the row only if the key has none yet


async def test_put_with_the_current_etag_replaces_the_row(api):
    alice = await api.as_user("alice")
    key = str(uuid.uuid4())
    etag = (await alice.put(f"/api/notes/{key}", json={"slug": "a", "text": "one"})).headers["ETag"]
    put = await alice.put(f"/api/notes/{key}", json={"slug": "a", "text": "two"}, headers={"If-Match": etag})
    assert put.status == 200, put.text
    assert await notes(api) == [("a", "alice", "two", "yellow")]


async def test_put_with_a_stale_etag_is_412_and_changes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    key = str(uuid.uuid4())
    stale = (await alice.put(f"/api/notes/{key}", json={"slug": "a", "text": "one"})).headers["ETag"]
    await alice.patch(f"/api/notes/{key}", json={"text": "two"})
    problem = expect_problem(await alice.put(f"/api/notes/{key}", json={"slug": "a"}, headers={"If-Match": stale}), 412)
    assert problem["etag"] != stale
    assert await notes(api) == [("a", "alice", "two", "yellow")]


async def test_put_with_if_match_on_a_missing_row_is_412_and_creates_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.put(f"/api/notes/{uuid.uuid4()}", json={"slug": "a"}, headers={"If-Match": "*"}), 412)
    assert await notes(api) == []


async def test_put_with_if_match_on_another_users_row_stays_a_conflict(api, expect_problem):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    key = str(uuid.uuid4())
    await alice.put(f"/api/notes/{key}", json={"slug": "a", "text": "alice's"})
    expect_problem(await bob.put(f"/api/notes/{key}", json={"slug": "b"}, headers={"If-Match": "*"}), 409)
    assert await notes(api) == [("a", "alice", "alice's", "yellow")]


async def test_put_with_if_none_match_star_creates_a_missing_row(api):
    alice = await api.as_user("alice")
    put = await alice.put(f"/api/notes/{uuid.uuid4()}", json={"slug": "a", "text": "new"}, headers=CREATE_ONLY)
    assert put.status == 201, put.text
    assert await notes(api) == [("a", "alice", "new", "yellow")]


async def test_put_with_if_none_match_star_on_an_existing_row_is_412_and_changes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    key = str(uuid.uuid4())
    await alice.put(f"/api/notes/{key}", json={"slug": "a", "text": "first"})
    problem = expect_problem(
        await alice.put(f"/api/notes/{key}", json={"slug": "a", "text": "second"}, headers=CREATE_ONLY), 412
    )
    assert "If-None-Match" in problem["detail"]
    assert await notes(api) == [("a", "alice", "first", "yellow")]


async def test_the_api_description_documents_if_match_on_put(api):
    put = (await api.anonymous.get("/openapi.json")).json["paths"]["/api/notes/{id}"]["put"]
    assert "If-Match" in [p["name"] for p in put["parameters"]] and "412" in put["responses"]


async def test_merge_of_a_mixed_batch_creates_and_updates_in_one_statement(api):
    alice = await api.as_user("alice")
    await alice.post("/api/notes", json=[{"slug": "a", "text": "old a"}, {"slug": "b", "text": "old b"}])
    items = [{"slug": "a", "text": "new a"}, {"slug": "c"}, {"slug": "b", "color": "red"}, {"slug": "d", "text": "d"}]
    answer = await alice.post("/api/notes?on_conflict=slug", json=items, headers=MERGE)
    assert answer.status == 201, answer.text
    assert [r["slug"] for r in answer.json["data"]] == ["a", "c", "b", "d"]
    assert await notes(api) == [
        ("a", "alice", "new a", "yellow"),
        ("b", "alice", "old b", "red"),
        ("c", "alice", None, "yellow"),
        ("d", "alice", "d", "yellow"),
    ]
    # rows written by one statement share its transaction and its command id
    (versions,) = await api.sql("select count(distinct (xmin::text, cmin::text)) from notes")
    assert versions[0] == 1


async def test_merge_of_a_mixed_batch_writes_one_event_per_row_in_the_order_sent(api):
    alice = await api.as_user("alice")
    await alice.post("/api/notes", json={"slug": "a", "text": "old"})
    items = [{"slug": "b"}, {"slug": "a", "text": "new"}, {"slug": "c"}]
    assert (await alice.post("/api/notes?on_conflict=slug", json=items, headers=MERGE)).status == 201
    rows = await api.sql("select action, data->>'slug', changes from _engine_events order by id offset 1")
    assert [(r[0], r[1]) for r in rows] == [("created", "b"), ("updated", "a"), ("created", "c")]
    assert rows[1][2] == {"text": {"before": "old", "after": "new"}}


async def test_merge_over_another_users_row_names_the_item_and_writes_nothing(api, expect_problem):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    await alice.post("/api/notes", json={"slug": "a", "text": "alice's"})
    items = [{"slug": "b"}, {"slug": "c"}, {"slug": "a", "text": "taken"}]
    problem = expect_problem(await bob.post("/api/notes?on_conflict=slug", json=items, headers=MERGE), 409)
    assert problem["item"] == 2
    assert await notes(api) == [("a", "alice", "alice's", "yellow")]
    assert [r[0] for r in await api.sql("select action from _engine_events")] == ["created"]


async def test_merge_of_two_items_with_the_same_key_is_a_conflict_naming_them(api, expect_problem):
    alice = await api.as_user("alice")
    items = [{"slug": "a"}, {"slug": "b"}, {"slug": "a", "text": "again"}]
    problem = expect_problem(await alice.post("/api/notes?on_conflict=slug", json=items, headers=MERGE), 409)
    assert problem["item"] == 2 and "items 0 and 2" in problem["detail"]
    assert await notes(api) == []


async def test_merge_reports_the_invalid_items_of_both_kinds_by_index(api, expect_problem):
    alice = await api.as_user("alice")
    await alice.post("/api/notes", json={"slug": "a"})
    items = [{"slug": "a", "text": 1}, {"slug": "b", "color": 2}]
    problem = expect_problem(await alice.post("/api/notes?on_conflict=slug", json=items, headers=MERGE), 422)
    assert [e["path"] for e in problem["errors"]] == ["/0/text", "/1/color"]


async def test_merge_on_a_soft_deleted_rows_key_creates_a_new_row(api):
    alice = await api.as_user("alice")
    upsert = "/api/labels?on_conflict=user_id,name"
    first = await alice.post(upsert, json={"name": "red", "color": "1"}, headers=MERGE)
    assert (await alice.delete(f"/api/labels/{first.json['data']['id']}")).status == 204
    again = await alice.post(upsert, json={"name": "red", "color": "2"}, headers=MERGE)
    assert again.status == 201, again.text
    rows = await api.sql("select color, deleted_at is null from labels order by color")
    assert [tuple(r) for r in rows] == [("1", False), ("2", True)]
