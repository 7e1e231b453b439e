"""engine.testing's spec fixture loads a spec once and shares it while its files keep their contents."""

from __future__ import annotations

from engine.testing import shared_spec

SPEC = """
version: 1
resources:
  notes:
    schema: schemas/note.json
"""


def note_schema(*names: str) -> dict:
    properties = {"id": {"type": "string", "format": "uuid"}, **{n: {"type": "string"} for n in names}}
    return {"type": "object", "additionalProperties": False, "properties": properties}


def test_the_same_files_give_the_same_spec_object(write_spec):
    path = write_spec(SPEC, {"schemas/note.json": note_schema("title")})
    assert shared_spec(str(path)) is shared_spec(str(path))


def test_a_changed_schema_file_is_read_again(write_spec):
    path = write_spec(SPEC, {"schemas/note.json": note_schema("title")})
    before = shared_spec(str(path))
    write_spec(SPEC, {"schemas/note.json": note_schema("title", "body")})
    after = shared_spec(str(path))
    assert "body" not in before.resources["notes"].fields
    assert "body" in after.resources["notes"].fields


def test_a_changed_resources_yaml_is_read_again(write_spec):
    path = write_spec(SPEC, {"schemas/note.json": note_schema("title")})
    before = shared_spec(str(path))
    write_spec(SPEC.replace("notes:", "memos:"))
    assert set(shared_spec(str(path)).resources) == {"memos"} and set(before.resources) == {"notes"}
