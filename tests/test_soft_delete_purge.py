"""`soft_delete: {purge_after}` when a reference restricts: the purge removes every row it may and keeps the others."""

from __future__ import annotations

import pytest

from engine.db.pool import connect
from engine.features.soft_delete.commands import purge_all

SPEC = """
version: 1
resources:
  lists:
    schema: schemas/list.json
    owner: owner_id
    soft_delete: {purge_after: 1d}
  entries:
    schema: schemas/entry.json
    owner: owner_id
    references:
      list_id: {resource: lists}   # on_delete: restrict, the default
"""


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    uid = {"type": "string", "format": "uuid", "readOnly": True}
    return str(
        write_spec(
            SPEC,
            {
                "schemas/list.json": schema_of(
                    {"id": uid, "owner_id": {"type": "string"}, "name": {"type": "string"}}, ["name"]
                ),
                "schemas/entry.json": schema_of(
                    {"id": uid, "owner_id": {"type": "string"}, "list_id": {"type": "string", "format": "uuid"}},
                    ["list_id"],
                ),
            },
        )
    )


async def purge(api) -> dict[str, int]:
    conn = await connect(api.database_url, schema=api.schema)
    try:
        return await purge_all(conn, api.spec)
    finally:
        await conn.close()


async def test_a_row_a_restricting_reference_still_points_at_is_kept_and_the_others_are_purged(api):
    alice = await api.as_user("alice")
    lists = [(await alice.post("/api/lists", json={"name": n})).json["data"] for n in ("kept", "a", "b")]
    assert (await alice.post("/api/entries", json={"list_id": lists[0]["id"]})).status == 201
    for row in lists:
        assert (await alice.delete(f"/api/lists/{row['id']}")).status == 204
    await api.sql("update lists set deleted_at = now() - interval '2 days'")
    assert await purge(api) == {"lists": 2}
    assert [r["name"] for r in await api.sql("select name from lists")] == ["kept"]
    assert len(await api.sql("select id from entries")) == 1
