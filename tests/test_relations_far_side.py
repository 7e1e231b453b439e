"""The far side of a many-to-many relation: each link carries the far row as the caller may read it.

Written on a spec of its own (shelves hold notes; readers are people), so nothing depends on the
example app's access rules: notes are owner-only, a shelf's readers read the shelf.
"""

from __future__ import annotations

import pytest

from engine.features.relations.service import RELATIONS

SPEC = """
version: 1
resources:
  people:
    schema: person.json
    owner: id
    permissions: {list: [admin], read: [user], create: [admin], update: [admin], delete: [admin]}
  notes:
    schema: note.json
    owner: author
    references:
      author: {resource: people, on_delete: cascade}
  secrets:
    schema: secret.json
    permissions: {list: [admin], read: [admin], create: [admin], update: [admin], delete: [admin]}
  shelves:
    schema: shelf.json
    owner: keeper
    references:
      keeper: {resource: people, on_delete: cascade}
    relations:
      notes: {through: shelf_notes, key: shelf_id, other: note_id}
      readers: {through: shelf_readers, key: shelf_id, other: person_id}
      vault: {through: shelf_secrets, key: shelf_id, other: secret_id}
    access:
      read: [owner, {relation: readers}]
  shelf_notes:
    schema: shelf_note.json
    unique: [[shelf_id, note_id]]
    references:
      shelf_id: {resource: shelves, on_delete: cascade}
      note_id: {resource: notes, on_delete: cascade}
    permissions: {list: [admin], read: [admin], create: [admin], update: [admin], delete: [admin]}
  shelf_readers:
    schema: shelf_reader.json
    unique: [[shelf_id, person_id]]
    references:
      shelf_id: {resource: shelves, on_delete: cascade}
      person_id: {resource: people, on_delete: cascade}
    permissions: {list: [admin], read: [admin], create: [admin], update: [admin], delete: [admin]}
  shelf_secrets:
    schema: shelf_secret.json
    unique: [[shelf_id, secret_id]]
    references:
      shelf_id: {resource: shelves, on_delete: cascade}
      secret_id: {resource: secrets, on_delete: cascade}
    permissions: {list: [admin], read: [admin], create: [admin], update: [admin], delete: [admin]}
"""

UUID = {"type": "string", "format": "uuid"}
ID = {"type": "string", "format": "uuid", "readOnly": True}


def schemas(object_schema):
    def link(other: str, other_schema: dict) -> dict:
        return object_schema({"id": ID, "shelf_id": UUID, other: other_schema}, ["shelf_id", other])

    return {
        "person.json": object_schema({"id": {"type": "string"}, "name": {"type": "string"}}, ["id"]),
        "note.json": object_schema({"id": ID, "author": {"type": "string"}, "text": {"type": "string"}}, ["text"]),
        "secret.json": object_schema({"id": ID, "code": {"type": "string"}}, ["code"]),
        "shelf.json": object_schema({"id": ID, "keeper": {"type": "string"}, "title": {"type": "string"}}, ["title"]),
        "shelf_note.json": link("note_id", UUID),
        "shelf_reader.json": link("person_id", {"type": "string"}),
        "shelf_secret.json": link("secret_id", UUID),
    }


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    return str(write_spec(SPEC, schemas(schema_of)))


async def setup(api):
    """ann keeps a shelf holding her note and ben's note; ben reads the shelf; one admin secret."""
    admin = await api.as_admin()
    for name in ("ann", "ben"):
        assert (await admin.post("/api/people", json={"id": name, "name": name.title()})).status == 201
    ann, ben = api.with_token(api.token("ann")), api.with_token(api.token("ben"))
    shelf = (await ann.post("/api/shelves", json={"title": "Ideas"})).json["data"]["id"]
    anns = (await ann.post("/api/notes", json={"text": "ann's"})).json["data"]["id"]
    bens = (await ben.post("/api/notes", json={"text": "ben's"})).json["data"]["id"]
    secret = (await admin.post("/api/secrets", json={"code": "s3cr3t"})).json["data"]["id"]
    for note in (anns, bens):
        assert (await ann.post(f"/api/shelves/{shelf}/notes", json={"note_id": note})).status == 201
    assert (await ann.post(f"/api/shelves/{shelf}/readers", json={"person_id": "ben"})).status == 201
    assert (await ann.post(f"/api/shelves/{shelf}/vault", json={"secret_id": secret})).status == 201
    return ann, ben, shelf, anns, bens


def far_rows(links: list[dict], name: str) -> dict:
    return {str(link[f"{name}_id"]): (link[name] or {}).get("text") for link in links}


async def test_include_gives_each_links_far_row_beside_the_join_columns(api):
    ann, _, shelf, anns, _ = await setup(api)
    got = await ann.get(f"/api/shelves/{shelf}?include=notes")
    assert got.status == 200, got.text
    link = next(link for link in got.json["data"]["notes"] if link["note_id"] == anns)
    assert link["shelf_id"] == shelf and link["note"]["text"] == "ann's" and link["note"]["id"] == anns


async def test_a_far_row_the_caller_may_not_read_embeds_as_null(api):
    """Notes are owner-only: each reader sees their own note's row, the other one is null (no error)."""
    ann, ben, shelf, anns, bens = await setup(api)
    as_ann = await ann.get(f"/api/shelves/{shelf}?include=notes")
    as_ben = await ben.get(f"/api/shelves/{shelf}?include=notes")
    assert far_rows(as_ann.json["data"]["notes"], "note") == {anns: "ann's", bens: None}
    assert far_rows(as_ben.json["data"]["notes"], "note") == {anns: None, bens: "ben's"}


async def test_the_nested_route_gives_the_far_rows_as_the_caller_may_read_them(api):
    _, ben, shelf, anns, bens = await setup(api)
    listed = await ben.get(f"/api/shelves/{shelf}/notes")
    assert listed.status == 200, listed.text
    assert far_rows(listed.json["data"], "note") == {anns: None, bens: "ben's"}
    one = await ben.get(f"/api/shelves/{shelf}/notes/{bens}")
    assert one.json["data"]["note"]["text"] == "ben's"


async def test_a_projection_on_the_nested_route_leaves_the_far_row_out(api):
    ann, _, shelf, _, _ = await setup(api)
    listed = await ann.get(f"/api/shelves/{shelf}/notes?fields=note_id")
    assert all(set(row) == {"note_id"} for row in listed.json["data"])
    listed = await ann.get(f"/api/shelves/{shelf}/notes?fields=note_id&include=note")
    assert all(set(row) == {"note_id", "note"} for row in listed.json["data"])


async def test_a_role_that_may_not_read_the_far_resource_embeds_null_not_403(api):
    """secrets are admin-only by role: the link shows, the secret does not."""
    ann, _, shelf, _, _ = await setup(api)
    got = await ann.get(f"/api/shelves/{shelf}?include=vault")
    assert got.status == 200, got.text
    (link,) = got.json["data"]["vault"]
    assert link["secret"] is None and link["secret_id"]
    listed = await ann.get(f"/api/shelves/{shelf}/vault")
    assert listed.status == 200 and listed.json["data"][0]["secret"] is None
    admin = await api.as_admin()
    assert (await admin.get(f"/api/shelves/{shelf}/vault")).json["data"][0]["secret"]["code"] == "s3cr3t"


async def test_a_path_goes_one_level_deeper_into_the_far_rows(api):
    ann, ben, shelf, anns, _ = await setup(api)
    got = await ann.get(f"/api/shelves/{shelf}?include=notes.author")
    authors = {link["note_id"]: link["note"] and link["note"]["author"] for link in got.json["data"]["notes"]}
    assert (authors[anns]["id"], authors[anns]["name"]) == ("ann", "Ann")
    as_ben = await ben.get(f"/api/shelves/{shelf}?include=readers.person")
    (reader,) = as_ben.json["data"]["readers"]
    assert reader["person"]["id"] == "ben"


async def test_naming_the_far_row_again_is_accepted_and_changes_nothing(api):
    ann, _, shelf, _, _ = await setup(api)
    plain = await ann.get(f"/api/shelves/{shelf}?include=readers")
    again = await ann.get(f"/api/shelves/{shelf}?include=readers.person,readers.person_id")
    assert again.json["data"]["readers"] == plain.json["data"]["readers"]


async def test_a_deeper_include_follows_the_far_rows_access(api):
    """ben reads the shelf and his note's author (himself); ann's note is hidden, so no author for it."""
    _, ben, shelf, anns, bens = await setup(api)
    got = await ben.get(f"/api/shelves/{shelf}?include=notes.author")
    notes = {link["note_id"]: link["note"] for link in got.json["data"]["notes"]}
    assert notes[anns] is None and notes[bens]["author"]["id"] == "ben"


@pytest.mark.parametrize(
    ("include", "named"),
    [("notes.colour", "colour"), ("notes.author.name", "one level deep"), ("colour.author", "colour")],
)
async def test_a_bad_include_path_is_400_naming_it(api, expect_problem, include, named):
    ann, _, shelf, _, _ = await setup(api)
    body = expect_problem(await ann.get(f"/api/shelves/{shelf}?include={include}"), 400)
    assert named in body["detail"] and body["parameter"] == "include"
    expect_problem(await ann.get(f"/api/shelves?include={include}"), 400)


async def test_a_list_embeds_far_rows_for_every_row(api):
    ann, _, shelf, anns, bens = await setup(api)
    other = (await ann.post("/api/shelves", json={"title": "Empty"})).json["data"]["id"]
    listed = await ann.get("/api/shelves?include=notes&sort=title")
    by_shelf = {row["id"]: far_rows(row["notes"], "note") for row in listed.json["data"]}
    assert by_shelf == {other: {}, shelf: {anns: "ann's", bens: None}}


async def test_a_nested_route_includes_one_level_past_the_far_row(api):
    _, ben, shelf, anns, bens = await setup(api)
    listed = await ben.get(f"/api/shelves/{shelf}/notes?include=note.author")
    notes = {row["note_id"]: row["note"] for row in listed.json["data"]}
    assert notes[anns] is None and notes[bens]["author"]["id"] == "ben"


async def test_a_far_side_the_role_may_not_read_is_planned_once(api):
    ann, _, shelf, _, _ = await setup(api)
    kept = api.app[RELATIONS].links_plans
    first = await ann.get(f"/api/shelves/{shelf}?include=vault")
    planned = len(kept)

    again = await ann.get(f"/api/shelves/{shelf}?include=vault")

    assert again.json == first.json
    assert again.json["data"]["vault"][0]["secret"] is None
    assert len(kept) == planned, "the refused role's answer has the same shape each time: its plan is kept"
