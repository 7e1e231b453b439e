"""People, boards and board editors: a small spec of the tests' own for relations, with nothing of
the example app in it (tests/test_relations_generic.py, tests/test_link_rules.py)."""

from __future__ import annotations

from typing import Any

PEOPLE = """\
  people:
    schema: person.json
    owner: id
    permissions: {list: [admin], read: [user], create: [admin], update: [admin], delete: [admin]}
"""


def schemas(object_schema, **editor_fields: dict[str, Any]) -> dict[str, Any]:
    """The three schemas; `editor_fields` adds properties to a board editor (`can_edit`, `role` ...)."""
    return {
        "person.json": object_schema({"id": {"type": "string"}, "name": {"type": "string"}}, ["id"]),
        "board.json": object_schema(
            {
                "id": {"type": "string", "format": "uuid", "readOnly": True},
                "creator": {"type": "string"},
                "title": {"type": "string"},
            },
            ["title"],
        ),
        "board_editor.json": object_schema(
            {
                "id": {"type": "string", "format": "uuid", "readOnly": True},
                "board_id": {"type": "string", "format": "uuid"},
                "person_id": {"type": "string"},
                **editor_fields,
            },
            ["board_id", "person_id"],
        ),
    }


async def people(api, *names: str) -> list:
    """People created by an admin; returns a client signed in as each."""
    admin = await api.as_admin()
    for name in names:
        created = await admin.post("/api/people", json={"id": name, "name": name.title()})
        assert created.status == 201, created.text
    return [api.with_token(api.token(name)) for name in names]


async def board_of(client, title: str = "Plans", **values: Any) -> str:
    created = await client.post("/api/boards", json={"title": title, **values})
    assert created.status == 201, created.text
    return created.json["data"]["id"]
