"""A resource that references itself: `include=parent` embeds the referenced row, not the row itself.

A read or a page and its includes are one statement, each include correlated on the row's own table;
where the include reads that same table, the rows and the include stay two statements
(engine.features.relations.service: `Relations.correlates`)."""

from __future__ import annotations

import pytest

SPEC = """
version: 1
resources:
  nodes:
    schema: node.json
    owner: owner_id
    references:
      parent: {resource: nodes, on_delete: cascade}
"""


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    node = schema_of(
        {
            "id": {"type": "string", "format": "uuid", "readOnly": True},
            "owner_id": {"type": "string"},
            "name": {"type": "string"},
            "parent": {"type": ["string", "null"], "format": "uuid"},
        },
        ["name"],
    )
    return str(write_spec(SPEC, {"node.json": node}))


async def test_a_child_read_embeds_its_parent(api):
    alice = await api.as_user("alice")
    root = (await alice.post("/api/nodes", json={"name": "root"})).json["data"]["id"]
    child = (await alice.post("/api/nodes", json={"name": "child", "parent": root})).json["data"]["id"]
    got = await alice.get(f"/api/nodes/{child}?include=parent")
    assert got.status == 200, got.text
    assert got.json["data"]["name"] == "child" and got.json["data"]["parent"]["name"] == "root"


async def test_a_root_read_embeds_null(api):
    alice = await api.as_user("alice")
    root = (await alice.post("/api/nodes", json={"name": "root"})).json["data"]["id"]
    got = await alice.get(f"/api/nodes/{root}?include=parent")
    assert got.status == 200, got.text
    assert got.json["data"]["parent"] is None


async def test_a_page_embeds_each_rows_own_parent(api):
    alice = await api.as_user("alice")
    root = (await alice.post("/api/nodes", json={"name": "root"})).json["data"]["id"]
    await alice.post("/api/nodes", json={"name": "child", "parent": root})
    got = await alice.get("/api/nodes?include=parent&sort=name")
    assert got.status == 200, got.text
    assert [(n["name"], n["parent"] and n["parent"]["name"]) for n in got.json["data"]] == [
        ("child", "root"),
        ("root", None),
    ]
