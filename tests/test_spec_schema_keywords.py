"""A schema keyword no validator reads (a typo, an OpenAPI 3.0 habit) is a warning naming where it
is and what was probably meant; the spec still loads, and `x-...` annotations are never reported."""

from __future__ import annotations

from engine.cli.main import main
from engine.spec import load_spec

SPEC = """
version: 1
resources:
  notes:
    schema: schemas/note.json
"""


def note_schema(**title: object) -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid", "readOnly": True},
            "title": {"type": "string", **title},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }


def test_a_misspelled_keyword_is_a_warning_naming_its_place_and_the_keyword_meant(write_spec):
    spec = load_spec(str(write_spec(SPEC, {"schemas/note.json": note_schema(maxLenght=10)})))
    (warning,) = spec.warnings
    assert warning.startswith("schemas/note.json:")
    assert "properties.title.maxLenght: 'maxLenght' is not a JSON Schema keyword" in warning
    assert "did you mean 'maxLength'?" in warning


def test_openapi_3_0_nullable_is_explained(write_spec):
    spec = load_spec(str(write_spec(SPEC, {"schemas/note.json": note_schema(nullable=True)})))
    (warning,) = spec.warnings
    assert 'write a "null" in "type"' in warning


def test_subschemas_are_searched_too(write_spec):
    schema = note_schema()
    schema["properties"]["tags"]["items"] = {"anyOf": [{"type": "string", "minLenght": 1}]}
    (warning,) = load_spec(str(write_spec(SPEC, {"schemas/note.json": schema}))).warnings
    assert "properties.tags.items.anyOf[0].minLenght" in warning


def test_standard_keywords_and_x_annotations_are_not_reported(write_spec):
    schema = note_schema(maxLength=10, examples=["a"], **{"x-ui-widget": "textarea"})
    assert load_spec(str(write_spec(SPEC, {"schemas/note.json": schema}))).warnings == ()


def test_the_example_apps_schemas_have_no_unknown_keyword():
    assert load_spec("resources.yaml").warnings == ()


def test_check_prints_the_warning_on_stderr_and_passes(write_spec, capsys):
    path = write_spec(SPEC, {"schemas/note.json": note_schema(maxLenght=10)})
    assert main(["--spec", str(path), "check"]) == 0
    captured = capsys.readouterr()
    assert "warning: schemas/note.json:" in captured.err and "maxLenght" in captured.err
    assert "maxLenght" not in captured.out
