"""A broken spec is reported like a compiler would: file:line:column, the dotted path, every problem at once."""

from __future__ import annotations

import os

import pytest

from engine.cli.main import main
from engine.spec import SpecError, load_spec

NOTE = {
    "id": {"type": "string", "format": "uuid"},
    "user_id": {"type": "string"},
    "title": {"type": "string"},
}


@pytest.fixture(autouse=True)
def in_spec_directory(tmp_path, monkeypatch):
    """Messages name files relative to the working directory, as a terminal user sees them."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def notes_with_schema(write_spec):
    """A spec of one resource, notes, with this schema: for problems found inside the schema file."""
    return lambda schema: write_spec(
        """
        version: 1
        resources:
          notes:
            schema: schemas/note.json
        """,
        {"schemas/note.json": schema},
    )


def errors_of(path) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_spec(str(path))
    return raised.value.errors


def test_unknown_key_names_line_column_and_path(write_spec, schema_of):
    spec = write_spec(
        """
        version: 1
        resources:
          notes:
            schema: schemas/note.json
            colour: blue
        """,
        {"schemas/note.json": schema_of(NOTE)},
    )
    (error,) = errors_of(spec)
    assert error.startswith("resources.yaml:5:5: resources.notes.colour: unknown key 'colour'")
    assert "expected one of: " in error and "owner" in error


def test_owner_that_is_not_a_property_is_reported_at_its_value(write_spec, schema_of):
    spec = write_spec(
        """
        version: 1
        resources:
          notes:
            schema: schemas/note.json
            owner: usr_id
        """,
        {"schemas/note.json": schema_of(NOTE)},
    )
    assert errors_of(spec) == [
        "resources.yaml:5:12: resources.notes.owner: owner 'usr_id' is not a property of schemas/note.json"
    ]


def test_missing_schema_file_is_reported(write_spec):
    spec = write_spec(
        """
        version: 1
        resources:
          notes:
            schema: schemas/missing.json
        """
    )
    assert errors_of(spec) == [
        "resources.yaml:4:13: resources.notes.schema: schema file 'schemas/missing.json' does not exist"
    ]


def test_schema_file_that_is_not_json_is_reported_at_the_line_and_column_of_the_mistake(notes_with_schema):
    spec = notes_with_schema('{\n  "type": "object",\n  "properties": {"title" {"type": "string"}}\n}\n')
    assert errors_of(spec) == ["schemas/note.json:3:26: (top): not valid JSON: Expecting ':' delimiter"]


def test_a_required_name_that_is_not_a_property_is_reported_in_the_schema_file(notes_with_schema, schema_of):
    spec = notes_with_schema({**schema_of(NOTE), "required": ["title", "titel"]})
    (error,) = errors_of(spec)
    assert error.startswith("schemas/note.json:")
    assert error.endswith("required[1]: 'titel' is not a property (properties: id, user_id, title)")


def test_invalid_json_schema_points_into_the_schema_file(notes_with_schema):
    schema = (
        '{\n  "$schema": "https://json-schema.org/draft/2020-12/schema",\n  "type": "object",\n'
        '  "properties": {\n    "title": {"type": "strin"}\n  }\n}\n'
    )
    spec = notes_with_schema(schema)
    (error,) = errors_of(spec)
    assert error.startswith("schemas/note.json:5:23: properties.title.type: not a valid draft 2020-12 schema")


def test_schema_of_another_draft_is_refused(notes_with_schema, schema_of):
    schema = {**schema_of(NOTE), "$schema": "http://json-schema.org/draft-07/schema#"}
    spec = notes_with_schema(schema)
    (error,) = errors_of(spec)
    assert error.startswith("schemas/note.json:")
    assert "$schema: must be draft 2020-12" in error


def test_property_without_a_column_type_points_into_the_schema_file(notes_with_schema):
    schema = (
        '{\n  "$schema": "https://json-schema.org/draft/2020-12/schema",\n  "type": "object",\n'
        '  "properties": {\n    "id": {"type": "string", "format": "uuid"},\n'
        '    "extra": {"description": "no type"},\n    "either": {"type": ["string", "integer"]}\n  }\n}\n'
    )
    spec = notes_with_schema(schema)
    assert errors_of(spec) == [
        "schemas/note.json:6:14: properties.extra: property 'extra' needs exactly one non-null JSON type to become a "
        "column (no 'type' given)",
        "schemas/note.json:7:15: properties.either: property 'either' needs exactly one non-null JSON type to become "
        "a column (found string, integer)",
    ]


def test_engine_maintained_timestamps_may_not_be_declared(notes_with_schema, schema_of):
    spec = notes_with_schema(schema_of({**NOTE, "created_at": {"type": "string", "format": "date-time"}}))
    (error,) = errors_of(spec)
    assert "properties.created_at: 'created_at' is maintained by the engine" in error


def test_reference_to_an_unknown_resource_is_reported(write_spec, schema_of):
    spec = write_spec(
        """
        version: 1
        resources:
          notes:
            schema: schemas/note.json
            references:
              user_id: {resource: people}
        """,
        {"schemas/note.json": schema_of(NOTE)},
    )
    assert errors_of(spec) == [
        "resources.yaml:6:27: resources.notes.references.user_id.resource: references unknown resource 'people'"
    ]


def test_reference_whose_column_type_differs_from_the_target_key_is_reported(write_spec, schema_of):
    spec = write_spec(
        """
        version: 1
        resources:
          people:
            schema: schemas/person.json
          notes:
            schema: schemas/note.json
            references:
              user_id: {resource: people}
        """,
        {"schemas/note.json": schema_of(NOTE), "schemas/person.json": schema_of({"id": {"type": "integer"}})},
    )
    (error,) = errors_of(spec)
    assert error.startswith("resources.yaml:8:16: resources.notes.references.user_id: 'user_id' is text but people.id")


def test_index_column_that_is_not_a_property_is_reported(write_spec, schema_of):
    spec = write_spec(
        """
        version: 1
        resources:
          notes:
            schema: schemas/note.json
            indexes:
              - [title, -missing]
        """,
        {"schemas/note.json": schema_of(NOTE)},
    )
    assert errors_of(spec) == [
        "resources.yaml:6:17: resources.notes.indexes[0][1]: index column 'missing' is not a property of "
        "schemas/note.json"
    ]


def test_yaml_syntax_error_names_its_line(write_spec):
    spec = write_spec(
        """
        version: 1
        resources:
          notes: {schema: [
        """
    )
    (error,) = errors_of(spec)
    assert error.startswith("resources.yaml:4:1: invalid YAML")


def test_duplicate_yaml_key_is_an_error_not_a_silent_override(write_spec, schema_of):
    spec = write_spec(
        """
        version: 1
        resources:
          notes:
            schema: schemas/note.json
            owner: user_id
            owner: title
        """,
        {"schemas/note.json": schema_of(NOTE)},
    )
    (error,) = errors_of(spec)
    assert error.startswith("resources.yaml:6:5: invalid YAML") and "duplicate key 'owner'" in error


def test_metaschema_errors_are_all_reported_together(write_spec, schema_of):
    spec = write_spec(
        """
        version: 2
        resources:
          notes:
            schema: schemas/note.json
            colour: blue
            permissions: {list: user}
        """,
        {"schemas/note.json": schema_of(NOTE)},
    )
    errors = sorted(errors_of(spec))
    assert len(errors) == 3
    assert errors[0].startswith("resources.yaml:1:10: version: 1 was expected")
    assert errors[1].startswith("resources.yaml:5:5: resources.notes.colour: unknown key")
    assert errors[2] == "resources.yaml:6:25: resources.notes.permissions.list: 'user' is not of type 'array'"


def test_a_resource_refused_by_the_metaschema_does_not_hide_other_resources_errors(write_spec, schema_of):
    spec = write_spec(
        """
        version: 1
        resources:
          notes:
            schema: schemas/note.json
            colour: blue
          drafts:
            schema: schemas/note.json
            owner: usr_id
            references:
              user_id: {resource: notes}
        """,
        {"schemas/note.json": schema_of(NOTE)},
    )
    errors = errors_of(spec)
    assert len(errors) == 2
    assert errors[0].startswith("resources.yaml:5:5: resources.notes.colour: unknown key 'colour'")
    assert errors[1] == (
        "resources.yaml:8:12: resources.drafts.owner: owner 'usr_id' is not a property of schemas/note.json"
    )


BROKEN = """
    version: 1
    resources:
      notes:
        schema: schemas/note.json
        owner: usr_id
        references:
          user_id: {resource: people}
        indexes:
          - [missing]
      drafts:
        schema: schemas/missing.json
    """

BROKEN_ERRORS = [
    "resources.yaml:5:12: resources.notes.owner: owner 'usr_id' is not a property of schemas/note.json",
    "resources.yaml:9:10: resources.notes.indexes[0][0]: index column 'missing' is not a property of schemas/note.json",
    "resources.yaml:11:13: resources.drafts.schema: schema file 'schemas/missing.json' does not exist",
    "resources.yaml:7:27: resources.notes.references.user_id.resource: references unknown resource 'people'",
]


def test_cross_check_errors_of_every_resource_are_reported_at_once(write_spec, schema_of):
    spec = write_spec(BROKEN, {"schemas/note.json": schema_of(NOTE)})
    assert errors_of(spec) == BROKEN_ERRORS


def test_check_prints_every_error_and_exits_1(write_spec, schema_of, capsys):
    spec = write_spec(BROKEN, {"schemas/note.json": schema_of(NOTE)})
    assert main(["--spec", str(spec), "check"]) == 1
    printed = capsys.readouterr().err.splitlines()
    assert printed == [*BROKEN_ERRORS, "4 problems in " + str(spec)]


def test_serve_refuses_an_invalid_spec_with_the_same_messages(write_spec, schema_of, capsys):
    spec = write_spec(BROKEN, {"schemas/note.json": schema_of(NOTE)})
    assert main(["--spec", str(spec), "serve", "--port", "1"]) == 1
    assert capsys.readouterr().err.splitlines()[:-1] == BROKEN_ERRORS


def test_check_accepts_a_valid_spec(write_spec, schema_of, capsys):
    spec = write_spec(
        """
        version: 1
        resources:
          notes:
            schema: schemas/note.json
            owner: user_id
        """,
        {"schemas/note.json": schema_of(NOTE)},
    )
    assert main(["--spec", str(spec), "check"]) == 0
    assert "all checks passed" in capsys.readouterr().out


def test_spec_path_is_absolute_whatever_the_working_directory(notes_with_schema, schema_of, tmp_path, monkeypatch):
    spec = notes_with_schema(schema_of(NOTE))
    monkeypatch.chdir(tmp_path.parent)
    loaded = load_spec(os.path.relpath(spec))
    assert loaded.path == str(spec)
    assert loaded.root == str(tmp_path)


def test_a_value_refused_by_a_pattern_is_explained_in_words(write_spec, schema_of):
    spec = write_spec(
        """
        version: 1
        settings:
          rate_limit: 100/minut
        resources:
          notes:
            schema: schemas/note.json
        """,
        {"schemas/note.json": schema_of(NOTE)},
    )
    assert errors_of(spec) == [
        "resources.yaml:3:15: settings.rate_limit: '100/minut' does not fit: "
        "Requests per second, minute, hour or day (100/minute), or off."
    ]


def test_a_mistake_inside_an_access_rule_is_reported_where_it_is(write_spec, schema_of):
    spec = write_spec(
        """
        version: 1
        resources:
          notes:
            schema: schemas/note.json
            owner: user_id
            access:
              read: [ownr, {path: [Notes]}, {relation: a, path: [b]}]
        """,
        {"schemas/note.json": schema_of(NOTE)},
    )
    assert errors_of(spec) == [
        "resources.yaml:7:14: resources.notes.access.read[0]: 'ownr' is not one of ['owner', 'anyone']",
        "resources.yaml:7:28: resources.notes.access.read[1].path[0]: 'Notes' does not fit: "
        "A step: a relation, a reference column, a resource, or resource.column (lowercase identifiers).",
        "resources.yaml:7:37: resources.notes.access.read[2]: give one of relation or path, not both",
    ]
