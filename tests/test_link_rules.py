"""A relation's `owner_joins` and `keep_one` on a spec written here: a new board's creator becomes its
lead editor in the board's transaction, and a board always keeps a lead, whatever route changes
its editors."""

from __future__ import annotations

import asyncio

import pytest
from boards_support import PEOPLE, board_of, people, schemas

from engine import hookimpl
from engine.kernel.errors import Conflict
from engine.spec import SpecError, load_spec

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
      editors:
        through: board_editors
        key: board_id
        other: person_id
        owner_joins: {role: lead, can_edit: true}
        keep_one: {role: lead}
  board_editors:
    schema: board_editor.json
    unique: [[board_id, person_id]]
    references:
      board_id: {resource: boards, on_delete: cascade}
      person_id: {resource: people, on_delete: cascade}
    permissions: {list: [admin], read: [admin], create: [admin], update: [admin], delete: [admin]}
"""
)


EDITOR = {"role": {"enum": ["lead", "editor"], "default": "editor"}, "can_edit": {"type": "boolean", "default": False}}


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    return str(write_spec(SPEC, schemas(schema_of, **EDITOR)))


async def editors(api, board: str) -> list[tuple]:
    rows = await api.sql("select person_id, role, can_edit from board_editors where board_id = $1 order by 1", board)
    return [tuple(r) for r in rows]


async def with_second_editor(api, role: str = "editor"):
    ann, _ = await people(api, "ann", "ben")
    board = await board_of(ann)
    added = await ann.post(f"/api/boards/{board}/editors", json={"person_id": "ben", "role": role})
    assert added.status == 201, added.text
    return ann, board


# --- owner_joins ----------------------------------------------------------------------------------


async def test_a_new_rows_owner_joins_with_the_declared_values(api):
    (ann,) = await people(api, "ann")
    assert await editors(api, await board_of(ann)) == [("ann", "lead", True)]


async def test_the_owner_an_admin_names_is_the_one_who_joins(api):
    await people(api, "ben")
    board = await board_of(await api.as_admin(), creator="ben")
    assert await editors(api, board) == [("ben", "lead", True)]


async def test_each_row_of_a_bulk_create_gets_its_owners_link(api):
    (ann,) = await people(api, "ann")
    created = await ann.post("/api/boards", json=[{"title": "One"}, {"title": "Two"}])
    assert created.status == 201, created.text
    for board in created.json["data"]:
        assert await editors(api, board["id"]) == [("ann", "lead", True)]


class RefuseEditors:
    @hookimpl
    def before_write(self, resource, action):
        if resource.name == "board_editors" and action == "create":
            raise Conflict("no editors today")


@pytest.mark.parametrize("engine_plugins", [[RefuseEditors()]], ids=["editors-refused"])
async def test_the_row_and_its_owners_link_commit_together(api, expect_problem):
    (ann,) = await people(api, "ann")
    expect_problem(await ann.post("/api/boards", json={"title": "Plans"}), 409)
    assert await api.sql("select 1 from boards") == []


# --- keep_one ------------------------------------------------------------------------------------


async def test_removing_the_last_link_with_the_values_is_a_409_naming_it(api, expect_problem):
    ann, board = await with_second_editor(api)
    body = expect_problem(await ann.delete(f"/api/boards/{board}/editors/ann"), 409)
    assert body["detail"] == (
        "every boards row keeps at least one of its editors with role lead: "
        "give role lead to another one before you remove this one"
    )
    assert (body["board_id"], body["person_id"]) == (board, "ann")
    assert ("ann", "lead", True) in await editors(api, board)


async def test_changing_the_kept_value_of_the_last_one_is_a_409(api, expect_problem):
    ann, board = await with_second_editor(api)
    body = expect_problem(await ann.patch(f"/api/boards/{board}/editors/ann", json={"role": "editor"}), 409)
    assert body["detail"].endswith("before you change this one")


async def test_other_fields_of_the_last_one_may_change(api):
    ann, board = await with_second_editor(api)
    changed = await ann.patch(f"/api/boards/{board}/editors/ann", json={"can_edit": False})
    assert changed.status == 200, changed.text


async def test_moving_the_last_one_to_another_row_is_a_409(api, expect_problem):
    ann, board = await with_second_editor(api)
    other = await board_of(ann, title="Other")
    admin = await api.as_admin()
    (link,) = await api.sql("select id::text from board_editors where board_id = $1 and person_id = 'ann'", board)
    expect_problem(await admin.patch(f"/api/board_editors/{link['id']}", json={"board_id": other}), 409)


async def test_a_link_without_the_values_goes_freely(api):
    ann, board = await with_second_editor(api)
    assert (await ann.delete(f"/api/boards/{board}/editors/ben")).status == 204


async def test_the_last_one_goes_once_another_holds_the_values(api):
    ann, board = await with_second_editor(api, role="lead")
    assert (await ann.delete(f"/api/boards/{board}/editors/ann")).status == 204
    assert await editors(api, board) == [("ben", "lead", False)]


async def test_two_holders_giving_up_at_once_leave_one(api):
    """Changes to a row's links lock the row first, so the second one sees the first."""
    _, board = await with_second_editor(api, role="lead")
    admin, other_admin = await api.as_admin(), await api.as_admin("root")
    results = await asyncio.gather(
        admin.patch(f"/api/boards/{board}/editors/ann", json={"role": "editor"}),
        other_admin.patch(f"/api/boards/{board}/editors/ben", json={"role": "editor"}),
    )
    assert sorted(r.status for r in results) == [200, 409]
    assert [e[1] for e in await editors(api, board)].count("lead") == 1


async def test_a_bulk_delete_of_every_holder_is_a_409_and_deletes_nothing(api, expect_problem):
    """A set-based write asks every row before its statement: the rows of the set leave together."""
    _, board = await with_second_editor(api, role="lead")
    admin = await api.as_admin()
    expect_problem(await admin.delete(f"/api/board_editors?board_id={board}"), 409)
    assert len(await editors(api, board)) == 2


async def test_a_bulk_update_demoting_every_holder_is_a_409(api, expect_problem):
    _, board = await with_second_editor(api, role="lead")
    admin = await api.as_admin()
    expect_problem(await admin.patch(f"/api/board_editors?board_id={board}", json={"role": "editor"}), 409)
    assert [e[1] for e in await editors(api, board)] == ["lead", "lead"]


async def test_a_bulk_delete_that_leaves_a_holder_passes(api):
    _, board = await with_second_editor(api, role="lead")
    admin = await api.as_admin()
    deleted = await admin.delete(f"/api/board_editors?board_id={board}&person_id=ben")
    assert deleted.status == 200, deleted.text
    assert await editors(api, board) == [("ann", "lead", True)]


# --- the spec loader ------------------------------------------------------------------------------


def errors_of(write_spec, schema_of, rules: str, owner: str = "owner: creator") -> list[str]:
    spec = SPEC.replace("        owner_joins: {role: lead, can_edit: true}\n        keep_one: {role: lead}\n", rules)
    spec = spec.replace("    owner: creator\n", f"    {owner}\n" if owner else "")
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(spec, schemas(schema_of, **EDITOR))))
    return raised.value.errors


def test_owner_joins_needs_an_owner(write_spec, schema_of):
    errors = errors_of(write_spec, schema_of, "        owner_joins: {role: lead}\n", owner="")
    assert any("boards has no `owner` to join its editors" in e for e in errors)


def test_link_values_must_be_fields_of_the_join_resource(write_spec, schema_of):
    (error,) = errors_of(write_spec, schema_of, "        keep_one: {rank: 1}\n")
    assert "editors.keep_one.rank" in error and "'rank' is not a field of board_editors" in error


def test_link_values_must_be_allowed_by_the_enum(write_spec, schema_of):
    (error,) = errors_of(write_spec, schema_of, "        owner_joins: {role: boss}\n")
    assert "'boss' is not a value of board_editors.role's enum" in error


def test_link_values_may_not_set_the_relations_own_columns(write_spec, schema_of):
    (error,) = errors_of(write_spec, schema_of, "        keep_one: {person_id: ann}\n")
    assert "'person_id' is set by the relation or the engine" in error
