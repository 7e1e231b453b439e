"""Relations, access rules and includes on a spec written here: nothing in the engine knows about teams."""

from __future__ import annotations

import pytest
from boards_support import PEOPLE, board_of, people, schemas

from engine.spec import SpecError, load_spec
from engine.testing import ApiClient

SPEC = (
    """
version: 1
resources:
"""
    + PEOPLE
    + """  boards:
    schema: board.json
    owner: creator
    references:
      creator: {resource: people, on_delete: cascade}
    relations:
      editors: {through: board_editors, key: board_id, other: person_id}
    access:
      read: [anyone]
      write: [owner, {relation: editors, where: {can_edit: [true]}}]
    permissions: {list: [anonymous, user], read: [anonymous, user]}
  board_editors:
    schema: board_editor.json
    unique: [[board_id, person_id]]
    references:
      board_id: {resource: boards, on_delete: cascade}
      person_id: {resource: people, on_delete: cascade}
    permissions: {list: [admin], read: [admin], create: [admin], update: [admin], delete: [admin]}
"""
)


EDITOR = {"can_edit": {"type": "boolean", "default": False}}


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    return str(write_spec(SPEC, schemas(schema_of, **EDITOR)))


async def test_nested_routes_follow_the_declared_relation_name(api):
    (ann, _) = await people(api, "ann", "ben")
    board = await board_of(ann)
    added = await ann.post(f"/api/boards/{board}/editors", json={"person_id": "ben", "can_edit": True})
    assert added.status == 201, added.text
    assert added.headers["Location"] == f"/api/boards/{board}/editors/ben"
    listed = await ann.get(f"/api/boards/{board}/editors")
    assert [(r["person_id"], r["can_edit"]) for r in listed.json["data"]] == [("ben", True)]


async def test_a_where_rule_on_a_boolean_column_grants_writes(api):
    ann, ben, cat = await people(api, "ann", "ben", "cat")
    board = await board_of(ann)
    await ann.post(f"/api/boards/{board}/editors", json={"person_id": "ben", "can_edit": True})
    await ann.post(f"/api/boards/{board}/editors", json={"person_id": "cat"})
    assert (await ben.patch(f"/api/boards/{board}", json={"title": "Ben's"})).status == 200
    assert (await cat.patch(f"/api/boards/{board}", json={"title": "Cat's"})).status == 403


async def test_patching_the_join_row_changes_the_grant(api):
    ann, cat = await people(api, "ann", "cat")
    board = await board_of(ann)
    await ann.post(f"/api/boards/{board}/editors", json={"person_id": "cat"})
    granted = await ann.patch(f"/api/boards/{board}/editors/cat", json={"can_edit": True})
    assert granted.status == 200
    assert (await cat.patch(f"/api/boards/{board}", json={"title": "Cat's"})).status == 200


async def test_anyone_rule_lets_anonymous_callers_read(api):
    (ann,) = await people(api, "ann")
    board = await board_of(ann)
    assert (await api.anonymous.get(f"/api/boards/{board}")).status == 200
    assert (await api.anonymous.get(f"/api/boards/{board}/editors")).status == 200


async def test_include_of_a_column_without_id_suffix_replaces_it_with_the_row(api):
    (ann,) = await people(api, "ann")
    board = await board_of(ann)
    got = await ann.get(f"/api/boards/{board}?include=creator,editors")
    row = got.json["data"]
    assert (row["creator"]["id"], row["creator"]["name"]) == ("ann", "Ann")
    assert row["editors"] == []


async def test_include_hides_rows_the_caller_may_not_read(api):
    ann, ben = await people(api, "ann", "ben")
    board = await board_of(ann)
    got = await ben.get(f"/api/boards/{board}?include=creator")
    assert got.json["data"]["creator"] is None


# --- spec errors -----------------------------------------------------------------------------------


def spec_with(write_spec, schema_of, old: str, new: str):
    assert old in SPEC
    return write_spec(SPEC.replace(old, new), schemas(schema_of, **EDITOR))


def test_where_on_an_unknown_join_column_is_a_spec_error(write_spec, schema_of):
    path = spec_with(write_spec, schema_of, "where: {can_edit: [true]}", "where: {colour: [red]}")
    expected = r"resources\.boards\.access\.write\[1\]\.where\.colour: 'colour' is not a column of board_editors"
    with pytest.raises(SpecError, match=expected):
        load_spec(str(path))


def test_relation_named_like_a_field_is_a_spec_error(write_spec, schema_of):
    path = spec_with(write_spec, schema_of, "      editors: {through", "      title: {through")
    path.write_text(path.read_text().replace("relation: editors", "relation: title"))
    with pytest.raises(SpecError, match="relation 'title' has the name of a field"):
        load_spec(str(path))


def test_unknown_attach_value_is_a_spec_error(write_spec, schema_of):
    path = spec_with(write_spec, schema_of, "other: person_id}", "other: person_id, attach: owner}")
    with pytest.raises(SpecError, match=r"relations\.editors\.attach"):
        load_spec(str(path))


async def test_a_missing_row_is_404_before_an_include_the_caller_may_not_read(api):
    """Anonymous callers may read boards but not people: `include=creator` is refused, but only for
    a row that exists (the row's own answer comes first, also where a read and its includes are
    one statement)."""
    (ann,) = await people(api, "ann")
    board = await board_of(ann)
    anonymous = ApiClient(api.client)
    refused = await anonymous.get(f"/api/boards/{board}?include=creator")
    missing = await anonymous.get("/api/boards/00000000-0000-0000-0000-000000000000?include=creator")
    assert refused.status == 401 and missing.status == 404, (refused.status, missing.status)
