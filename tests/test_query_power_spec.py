"""The `aggregates:` and `search:` keys: checked against the schema, and turned into the indexes
`migrate make` writes (one GIN expression index per vector group, engine.sql.search)."""

from __future__ import annotations

import re

import pytest

from engine.migrations.diff import diff
from engine.migrations.model import spec_model
from engine.spec import SpecError, load_spec

NOTE = {
    "id": {"type": "string", "format": "uuid"},
    "user_id": {"type": "string"},
    "title": {"type": "string"},
    "body": {"type": "string"},
    "score": {"type": "integer"},
    "labels": {"type": "array", "items": {"type": "string"}},
    "token": {"type": "string", "writeOnly": True},
}


@pytest.fixture(autouse=True)
def in_spec_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def notes(write_spec, schema_of, extra: str, access: str = ""):
    return write_spec(
        f"""
        version: 1
        resources:
          notes:
            schema: schemas/note.json
            owner: user_id
{extra}
{access}
        """,
        {"schemas/note.json": schema_of(NOTE)},
    )


def errors_of(path) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_spec(str(path))
    return raised.value.errors


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ("            aggregates: {group_by: [nope]}", "resources.notes.aggregates.group_by[0]: 'nope' is not a field"),
        ("            aggregates: {group_by: [labels]}", "'labels' (jsonb) cannot be used here"),
        ("            aggregates: {metrics: [token]}", "'token' is a secret"),
        ("            search: {fields: {score: A}}", "'score' (bigint) cannot be searched"),
        ("            search: {fields: {labels: A}}", "a JSON field needs `path`"),
        ('            search: {fields: {title: {weight: A, path: "$[*]"}}}', "a text field takes none"),
        ("            search: {fields: {title: E}}", "resources.notes.search.fields.title"),
        ('            search: {fields: {labels: {path: "$; drop table x"}}}', "resources.notes.search.fields.labels"),
    ],
)
def test_a_wrong_declaration_names_its_path(write_spec, schema_of, extra, says):
    errors = errors_of(notes(write_spec, schema_of, extra))
    assert any(says in e for e in errors), errors


def test_search_stores_one_vector_for_open_fields_and_one_per_field_with_a_read_rule(write_spec, schema_of):
    extra = '            search: {language: english, fields: {title: A, body: B, labels: {weight: C, path: "$[*]"}}}'
    access = "            access: {fields: {body: {read: [owner]}}}"
    model = spec_model(load_spec(str(notes(write_spec, schema_of, extra, access))))["notes"]
    vectors = {name: c for name, c in model["columns"].items() if name.startswith("_search_")}
    open_group, body = sorted(vectors.values(), key=lambda c: '"body"' in c["generated"])
    assert '"title"' in open_group["generated"] and '"labels"' in open_group["generated"]
    assert '"body"' in body["generated"] and '"title"' not in body["generated"]
    assert {model["indexes"][f"notes{name}_idx"]["using"] for name in vectors} == {"gin"}


def test_changing_the_searched_fields_replaces_the_vector_without_a_destructive_step(write_spec, schema_of):
    before = spec_model(load_spec(str(notes(write_spec, schema_of, "            search: {fields: {title: A}}"))))
    after = spec_model(
        load_spec(str(notes(write_spec, schema_of, "            search: {fields: {title: A, body: B}}")))
    )
    steps = diff(before, after)
    assert [s.description.split(" ")[0:2] for s in steps] == [
        ["drop", "index"],
        ["add", "column"],
        ["drop", "column"],
        ["create", "index"],
    ]
    assert not any(step.destructive for step in steps)
    assert "GENERATED ALWAYS AS" in steps[1].sql and steps[1].sql.endswith("STORED")


def test_a_property_named_like_a_search_vector_is_refused(write_spec, schema_of):
    spec = write_spec(
        """
        version: 1
        resources:
          notes:
            schema: schemas/note.json
            search: {fields: {title: A}}
        """,
        {"schemas/note.json": schema_of({"title": {"type": "string"}, "_search_x": {"type": "string"}})},
    )
    assert any("kept for search vectors" in e for e in errors_of(spec))


async def list_parameters_of(api, path: str) -> dict[str, dict]:
    document = (await api.anonymous.get("/openapi.json")).json
    return {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}


async def test_openapi_describes_the_declared_aggregates_and_search(api):
    parameters = await list_parameters_of(api, "/api/agents")
    assert {"count", "Prefer", "or", "and", "not", "group_by", "aggregate", "q"} <= set(parameters)
    assert parameters["aggregate"]["schema"]["items"]["enum"] == ["count", "min:created_at", "max:created_at"]
    assert re.match(parameters["group_by"]["schema"]["pattern"], "status,created_at:day")


async def test_openapi_offers_no_search_or_groups_where_none_is_declared(api):
    parameters = await list_parameters_of(api, "/api/users")
    assert {"count", "or"} <= set(parameters)
    assert not {"group_by", "aggregate", "q"} & set(parameters)
