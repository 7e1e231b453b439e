"""`resource-engine check` on access rules: every problem with file:line:col, before anything runs."""

from __future__ import annotations

import pathlib
import re

import pytest
from test_access_fields import SPEC, schemas

from engine.cli.main import main
from engine.features.access.rules import USER_PARAM, _rule, spec_values
from engine.spec import SpecError, load_spec


def spec_with(write_spec, schema_of, old: str, new: str, extra: dict | None = None):
    assert old in SPEC
    files = schemas(schema_of)
    files.update(extra or {})
    return write_spec(SPEC.replace(old, new), files)


def errors_of(path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    return caught.value.errors


def test_the_spec_of_the_tests_loads_with_its_rules_resolved(write_spec, schema_of):
    spec = load_spec(str(spec_with(write_spec, schema_of, "version: 1", "version: 1")))
    (own, crew) = spec.resources["tasks"].access["read"]
    assert [s.text for s in crew.steps] == ["project_id", "crew"] and crew.end == "person_id"
    assert own.end == "lead"


def test_an_unknown_step_is_reported_at_its_line_and_column(write_spec, schema_of):
    path = spec_with(write_spec, schema_of, "{path: [project_id, crew]", "{path: [project_id, crows]")
    error = errors_of(path)[0]  # and again for `update`, which reuses the list (&crew)
    assert re.match(
        r"resources\.yaml:\d+:\d+: resources\.tasks\.access\.read\[1\]\.path\[1\]: unknown step 'crows'",
        error.split(" ", 0)[0].split("/")[-1],
    ), error


def test_steps_without_an_index_are_reported(write_spec, schema_of):
    """`notes.about` holds project ids without being a reference, and `notes.author` (the owner,
    where the path meets the caller) is no reference either: nothing indexes them."""
    uuid = {"type": "string", "format": "uuid"}
    note = schema_of({"id": {**uuid, "readOnly": True}, "about": uuid, "author": {"type": "string"}})
    old = "  tasks:\n    schema: task.json\n"
    new = "  notes:\n    schema: note.json\n    owner: author\n" + old
    path = spec_with(write_spec, schema_of, old, new, {"note.json": note})
    path.write_text(path.read_text().replace("delete: [owner]", "delete: [{path: [notes.about]}]"))
    errors = [e.split(": ", 1)[1] for e in errors_of(path)]
    assert errors == [
        "resources.projects.access.delete[0].path[0]: notes.about has no index: add `indexes: [[about]]` there",
        "resources.projects.access.delete[0].path: notes.author (where the path meets the caller) has no index: "
        "add `indexes: [[author]]` there",
    ]


def test_conditions_on_a_step_the_path_does_not_take_are_reported(write_spec, schema_of):
    path = spec_with(
        write_spec,
        schema_of,
        "where: {crew: {active: true}}}]\n      update",
        "where: {crews: {active: true}}}]\n      update",
    )
    assert any("'crews' is not a step of this path" in e for e in errors_of(path))


def test_a_path_must_end_at_the_caller(write_spec, schema_of):
    path = spec_with(
        write_spec, schema_of, "delete: [{path: [projects]}]", "delete: [{path: [projects, crew.project_id]}]"
    )
    assert any("the path ends at crew, which has no owner field to match" in e for e in errors_of(path))


def test_an_unknown_condition_column_is_reported(write_spec, schema_of):
    path = spec_with(write_spec, schema_of, "rank: chief, active: true", "rank: chief, colour: red")
    assert any("'colour' is not a column of crew to match on" in e for e in errors_of(path))


def test_check_prints_every_access_problem(write_spec, schema_of, capsys):
    path = spec_with(write_spec, schema_of, "{path: [project_id, crew]", "{path: [project_id, crows]")
    assert main(["--spec", str(path), "check"]) == 1
    assert "unknown step 'crows'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new"), [("rank: chief", "rank: boss"), ("active: true}}}]\n      update", "active: 1}}}]\n      update")]
)
def test_a_value_the_column_cannot_hold_is_reported(write_spec, schema_of, old, new):
    path = spec_with(write_spec, schema_of, old, new)
    assert any("cannot be a value of crew." in e for e in errors_of(path)), errors_of(path)


def test_the_values_a_rule_binds_are_named_as_its_sql_names_them():
    """compile_list takes the bound values from spec_values (no SQL built per request): they must be
    exactly what building the rule's expression collects, for every rule list of the example app."""
    spec = load_spec(str(pathlib.Path(__file__).resolve().parent.parent / "resources.yaml"))
    lists = [
        (resource, rules, prefix)
        for resource in spec.resources.values()
        for rules, prefix in [
            *((rules, "r") for rules in resource.access.values()),
            *((rules, f"fa{i}_") for i, modes in enumerate(resource.field_access.values()) for rules in modes.values()),
        ]
    ]
    assert lists
    for resource, rules, prefix in lists:
        collected: dict = {}
        for i, rule in enumerate(rules):
            _rule(resource, rule, f"{prefix}{i}", resource.table, collected)
        collected.pop(USER_PARAM, None)
        assert dict(spec_values(rules, prefix)) == collected


def test_a_condition_with_one_value_is_an_equality_binding_that_value():
    """`where: {status: active}` compiles to `status = $v` with the value itself bound, and a list of
    two or more to `= ANY($v)` with a list: a scalar skips asyncpg's array checks on every request."""
    spec = load_spec(str(pathlib.Path(__file__).resolve().parent.parent / "resources.yaml"))
    agents = spec.resources["agents"]
    collected: dict = {}
    sql = _rule(agents, agents.access["read"][1], "r1", "agents", collected).sql(dialect="postgres")
    assert collected["r1_s2_0"] == "active" and "_r1_s2.status = %(r1_s2_0)s" in sql.replace('"', "")
    masks = agents.field_access["system_prompt"]["read"]
    collected = {}
    _rule(agents, masks[1], "fa0_1", "agents", collected)
    assert [v for k, v in collected.items() if k != USER_PARAM and isinstance(v, list)] == [["owner", "admin"]]


def test_compiled_rules_are_shared_by_callers_with_only_their_id_differing():
    """compile_list makes a rule list's builder once: two callers get the same builder and spec values,
    each with their own id bound."""
    from engine.features.access.rules import compile_rules
    from engine.kernel.identity import Identity

    spec = load_spec(str(pathlib.Path(__file__).resolve().parent.parent / "resources.yaml"))
    agents = spec.resources["agents"]
    alice, bob = Identity(user_id="alice"), Identity(user_id="bob")
    first, second = compile_rules(agents, "read", alice), compile_rules(agents, "read", bob)
    assert first.build is second.build and first.key == second.key
    assert first.params[USER_PARAM] == "alice" and second.params[USER_PARAM] == "bob"
    assert {k: v for k, v in first.params.items() if k != USER_PARAM} == {
        k: v for k, v in second.params.items() if k != USER_PARAM
    }


def test_a_callers_predicates_share_their_id_and_ownership_values():
    """A process keeps thousands of callers' access answers: the values most of a caller's predicates
    repeat (their id alone, the pair owner column and id) are one object per caller, not one each."""
    from engine.features.access.rules import compile_list
    from engine.kernel.identity import Identity

    agents = load_spec(str(pathlib.Path(__file__).resolve().parent.parent / "resources.yaml")).resources["agents"]
    owner = agents.access["read"][0]
    alice, bob = Identity(user_id="alice"), Identity(user_id="bob")
    reads, writes = (compile_list(agents, (owner,), ("test", mode), "t", alice) for mode in ("read", "write"))
    assert reads.params is writes.params and reads.params == {USER_PARAM: "alice"}
    assert reads.holds_if is writes.holds_if and reads.holds_if == (("user_id", "alice"),)
    bobs = compile_list(agents, (owner,), ("test", "read"), "t", bob)
    assert bobs.params == {USER_PARAM: "bob"} and bobs.holds_if == (("user_id", "bob"),)


@pytest.mark.parametrize(
    ("kinds", "holds_if", "requires"),
    [
        (("owner",), (("user_id", "alice"),), (("user_id", "alice"),)),
        (("owner", "path"), (("user_id", "alice"),), ()),
        (("path",), None, ()),
        (("anyone", "owner"), (), ()),
    ],
)
def test_a_rule_list_says_which_rows_it_is_known_to_hold_for(kinds, holds_if, requires):
    """`holds_if`: the caller's own rows satisfy a list with an `owner` rule (every row, one with
    `anyone`); `requires`: a list of `owner` rules alone holds for nothing else. A write uses them to
    skip asking about the row it writes (ResourceManager._alone, tests/test_access_fields_known_rows.py)."""
    from engine.features.access.rules import compile_list
    from engine.kernel.identity import Identity
    from engine.spec.access import Rule

    agents = load_spec(str(pathlib.Path(__file__).resolve().parent.parent / "resources.yaml")).resources["agents"]
    owner, path = agents.access["read"]  # [owner, {path: [team_agents.agent_id, teams, members]}]
    rules = tuple({"owner": owner, "path": path, "anyone": Rule("anyone")}[kind] for kind in kinds)
    predicate = compile_list(agents, rules, ("test", kinds), "t", Identity(user_id="alice"))
    assert (predicate.holds_if, predicate.requires) == (holds_if, requires)
    anonymous = compile_list(agents, rules, ("test", kinds), "t", None)  # keeps `anyone` rules only
    assert (anonymous.holds_if, anonymous.requires) == (() if "anyone" in kinds else None, ())


def test_a_predicate_holds_for_a_row_only_when_every_known_column_matches():
    from engine.sql.queries import Predicate

    owned = Predicate("k", lambda t: None, holds_if=(("user_id", "alice"),))
    assert owned.holds_for({"user_id": "alice", "name": "x"})
    assert not owned.holds_for({"user_id": "bob"}) and not owned.holds_for({"name": "x"})
    assert not owned.holds_for({"user_id": None})
    assert not Predicate("k", lambda t: None).holds_for({"user_id": "alice"})  # nothing known: ask
    assert Predicate("k", lambda t: None, holds_if=()).holds_for({})  # every row


def test_two_plugins_ruling_one_field_hold_where_both_are_known_to():
    from engine.resources.field_rules import merge
    from engine.sql.queries import Predicate

    mine = Predicate("a", lambda t: None, holds_if=(("user_id", "alice"),), requires=(("user_id", "alice"),))
    tenant = Predicate("b", lambda t: None, holds_if=(("tenant", "t1"),))
    unknown = Predicate("c", lambda t: None)
    both = merge([{"salary": mine}, {"salary": tenant}])["salary"]
    assert both.holds_for({"user_id": "alice", "tenant": "t1"}) and not both.holds_for({"user_id": "alice"})
    assert both.requires == (("user_id", "alice"),)
    assert not merge([{"salary": mine}, {"salary": unknown}])["salary"].holds_for({"user_id": "alice"})
