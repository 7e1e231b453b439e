"""history/soft_delete on a spec written here (nothing of the example app): unique keys, purge, prune, migrations."""

from __future__ import annotations

import dataclasses

import pytest
from events_support import wait_until

from engine.db.pool import connect
from engine.features.history.commands import prune_all
from engine.features.soft_delete.commands import purge_all
from engine.migrations import diff, spec_model
from engine.spec import History, SoftDelete, SpecError, load_spec

SPEC = """
version: 1
resources:
  shelves:
    schema: schemas/shelf.json
    owner: owner_id
    unique: [[owner_id, name]]
    history: {keep: 2}
    soft_delete: {purge_after: 1d}
    relations:
      tagged: {through: shelf_tags, key: shelf_id, other: tag_id}  # attach: any
  tags:
    schema: schemas/tag.json
    soft_delete: {}
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
  shelf_tags:
    schema: schemas/shelf_tag.json
    references:
      shelf_id: {resource: shelves, on_delete: cascade}
      tag_id: {resource: tags, on_delete: cascade}
  items:
    schema: schemas/item.json
    owner: owner_id
    references:
      shelf_id: {resource: shelves, on_delete: cascade}
    history: {max_age: 1h}
"""


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    uid = {"type": "string", "format": "uuid", "readOnly": True}
    return str(
        write_spec(
            SPEC,
            {
                "schemas/shelf.json": schema_of(
                    {"id": uid, "owner_id": {"type": "string"}, "name": {"type": "string"}}, ["name"]
                ),
                "schemas/tag.json": schema_of({"id": uid, "label": {"type": "string"}}),
                "schemas/shelf_tag.json": schema_of(
                    {
                        "id": uid,
                        "shelf_id": {"type": "string", "format": "uuid"},
                        "tag_id": {"type": "string", "format": "uuid"},
                    },
                    ["shelf_id", "tag_id"],
                ),
                "schemas/item.json": schema_of(
                    {"id": uid, "owner_id": {"type": "string"}, "shelf_id": {"type": "string", "format": "uuid"}},
                    ["shelf_id"],
                ),
            },
        )
    )


async def run(api, work):
    conn = await connect(api.database_url, schema=api.schema)
    try:
        return await work(conn, api.spec)
    finally:
        await conn.close()


async def test_a_unique_value_of_a_deleted_row_is_free_again(api):
    alice = await api.as_user("alice")
    first = (await alice.post("/api/shelves", json={"name": "a"})).json["data"]
    assert (await alice.post("/api/shelves", json={"name": "a"})).status == 409
    await alice.delete(f"/api/shelves/{first['id']}")
    assert (await alice.post("/api/shelves", json={"name": "a"})).status == 201


async def test_a_deleted_row_cannot_be_attached_even_where_any_row_may_be(api, expect_problem):
    alice = await api.as_user("alice")
    shelf = (await alice.post("/api/shelves", json={"name": "s"})).json["data"]
    kept, gone = [(await alice.post("/api/tags", json={"label": n})).json["data"] for n in ("kept", "gone")]
    await alice.delete(f"/api/tags/{gone['id']}")
    assert (await alice.post(f"/api/shelves/{shelf['id']}/tagged", json={"tag_id": kept["id"]})).status == 201
    refused = await alice.post(f"/api/shelves/{shelf['id']}/tagged", json={"tag_id": gone["id"]})
    assert expect_problem(refused, 422)["errors"][0]["path"] == "/tag_id"
    links = await api.sql("select tag_id::text from shelf_tags")
    assert [r["tag_id"] for r in links] == [kept["id"]]


async def test_restoring_a_row_whose_unique_value_was_taken_is_409(api, expect_problem):
    alice = await api.as_user("alice")
    first = (await alice.post("/api/shelves", json={"name": "a"})).json["data"]
    await alice.delete(f"/api/shelves/{first['id']}")
    await alice.post("/api/shelves", json={"name": "a"})
    expect_problem(await alice.post(f"/api/shelves/{first['id']}/restore"), 409)


async def test_restoring_a_version_whose_unique_value_another_row_took_is_409(api, expect_problem):
    alice = await api.as_user("alice")
    first = (await alice.post("/api/shelves", json={"name": "a"})).json["data"]
    await alice.patch(f"/api/shelves/{first['id']}", json={"name": "b"})
    assert (await alice.post("/api/shelves", json={"name": "a"})).status == 201
    problem = expect_problem(await alice.post(f"/api/shelves/{first['id']}/versions/1/restore"), 409)
    assert problem["fields"] == ["owner_id", "name"]
    versions = (await alice.get(f"/api/shelves/{first['id']}/versions")).json["data"]
    assert [(v["version"], v["data"]["name"]) for v in versions] == [(2, "b"), (1, "a")]


async def test_purge_removes_rows_deleted_longer_ago_than_purge_after_with_their_cascade(api):
    alice = await api.as_user("alice")
    old, recent = [(await alice.post("/api/shelves", json={"name": n})).json["data"] for n in ("old", "recent")]
    for shelf in (old, recent):
        assert (await alice.post("/api/items", json={"shelf_id": shelf["id"]})).status == 201
        await alice.delete(f"/api/shelves/{shelf['id']}")
    await api.sql("update shelves set deleted_at = now() - interval '2 days' where id = $1", old["id"])
    assert await run(api, purge_all) == {"shelves": 1}
    shelves = await api.sql("select name from shelves")
    items = await api.sql("select shelf_id from items")
    assert [r["name"] for r in shelves] == ["recent"]
    assert [str(r["shelf_id"]) for r in items] == [recent["id"]]


async def test_items_of_a_deleted_shelf_stay_until_the_purge(api):
    alice = await api.as_user("alice")
    shelf = (await alice.post("/api/shelves", json={"name": "s"})).json["data"]
    await alice.post("/api/items", json={"shelf_id": shelf["id"]})
    await alice.delete(f"/api/shelves/{shelf['id']}")
    assert len((await alice.get("/api/items")).json["data"]) == 1


async def test_prune_keeps_the_declared_number_of_versions(api):
    alice = await api.as_user("alice")
    shelf = (await alice.post("/api/shelves", json={"name": "v1"})).json["data"]
    for name in ("v2", "v3", "v4"):
        await alice.patch(f"/api/shelves/{shelf['id']}", json={"name": name})
    removed = await run(api, prune_all)
    assert removed["shelves"] == 2
    versions = (await alice.get(f"/api/shelves/{shelf['id']}/versions")).json["data"]
    assert [(v["version"], v["data"]["name"]) for v in versions] == [(4, "v4"), (3, "v3")]


async def test_prune_by_age_keeps_the_newest_version_of_each_row(api):
    alice = await api.as_user("alice")
    shelf = (await alice.post("/api/shelves", json={"name": "s"})).json["data"]
    item = (await alice.post("/api/items", json={"shelf_id": shelf["id"]})).json["data"]
    await alice.patch(f"/api/items/{item['id']}", json={"shelf_id": shelf["id"]})
    await alice.patch(f"/api/items/{item['id']}", json={"owner_id": "alice"})
    await api.sql("update items_history set at = now() - interval '2 hours'")
    removed = await run(api, prune_all)
    assert removed["items"] >= 1
    rows = await api.sql("select version from items_history where record_id = $1", item["id"])
    assert [r["version"] for r in rows] == [max(r["version"] for r in rows)] and len(rows) == 1


async def test_a_purged_rows_newest_versions_stay_when_only_keep_is_declared(api):
    alice = await api.as_user("alice")
    shelf = (await alice.post("/api/shelves", json={"name": "v1"})).json["data"]
    for name in ("v2", "v3"):
        await alice.patch(f"/api/shelves/{shelf['id']}", json={"name": name})
    await alice.delete(f"/api/shelves/{shelf['id']}")
    await api.sql("update shelves set deleted_at = now() - interval '2 days' where id = $1", shelf["id"])
    assert await run(api, purge_all) == {"shelves": 1}
    versions = "select version from shelves_history where record_id = $1 order by version"
    before = [r["version"] for r in await api.sql(versions, shelf["id"])]
    assert len(before) > 2  # the prune has versions beyond `keep` to remove
    newest = before[-2:]
    await run(api, prune_all)
    assert [r["version"] for r in await api.sql(versions, shelf["id"])] == newest


async def test_a_deleted_rows_old_versions_go_by_max_age_and_its_deletion_version_stays(api):
    alice = await api.as_user("alice")
    shelf = (await alice.post("/api/shelves", json={"name": "s"})).json["data"]
    item = (await alice.post("/api/items", json={"shelf_id": shelf["id"]})).json["data"]
    await alice.patch(f"/api/items/{item['id']}", json={"owner_id": "alice"})
    assert (await alice.delete(f"/api/items/{item['id']}")).status in (200, 204)
    await api.sql("update items_history set at = now() - interval '2 hours'")
    await run(api, prune_all)
    rows = await api.sql("select action, data from items_history where record_id = $1", item["id"])
    assert [(r["action"], r["data"]) for r in rows] == [("deleted", None)]


def test_turning_history_on_for_an_existing_resource_only_adds_its_table(engine_spec):
    before = dataclasses.replace(engine_spec, resources={**engine_spec.resources})
    before.resources["items"] = dataclasses.replace(engine_spec.resources["items"], history=None)
    steps = diff(spec_model(before), spec_model(engine_spec))
    assert [s.description for s in steps] == ["create table items_history", "create index items_history_at_idx"]
    assert not any(s.destructive or s.refusal or s.warning for s in steps)


def test_turning_soft_delete_on_makes_unique_keys_partial(engine_spec):
    before_shelves = dataclasses.replace(engine_spec.resources["shelves"], soft_delete=None)
    fields = {k: v for k, v in before_shelves.fields.items() if k != "deleted_at"}
    before_shelves = dataclasses.replace(before_shelves, fields=fields)
    before = dataclasses.replace(engine_spec, resources={**engine_spec.resources, "shelves": before_shelves})
    steps = diff(spec_model(before), spec_model(engine_spec))
    assert [s.sql for s in steps] == [
        'ALTER TABLE "shelves" DROP CONSTRAINT IF EXISTS "shelves_owner_id_name_key"',
        'ALTER TABLE "shelves" ADD COLUMN "deleted_at" TIMESTAMPTZ',
        'CREATE UNIQUE INDEX "shelves_owner_id_name_key" ON "shelves"("owner_id", "name") WHERE "deleted_at" IS NULL',
    ]
    assert not any(s.destructive or s.refusal for s in steps)


def test_spec_holds_the_declared_retention(engine_spec):
    assert engine_spec.resources["shelves"].history == History(keep=2)
    assert engine_spec.resources["shelves"].soft_delete == SoftDelete(purge_after=86400)
    assert engine_spec.resources["items"].history == History(max_age=3600)


def test_a_schema_property_named_deleted_at_is_refused_with_soft_delete(write_spec, schema_of):
    path = write_spec(
        "version: 1\nresources:\n  notes:\n    schema: schemas/note.json\n    soft_delete: {}\n",
        {"schemas/note.json": schema_of({"id": {"type": "integer"}, "deleted_at": {"type": "string"}})},
    )
    with pytest.raises(SpecError, match="'deleted_at' is kept by the engine"):
        load_spec(str(path))


def test_a_history_table_clashing_with_a_resource_table_is_refused(write_spec, schema_of):
    path = write_spec(
        """
        version: 1
        resources:
          notes: {schema: schemas/note.json, history: {}}
          notes_history: {schema: schemas/note.json}
        """,
        {"schemas/note.json": schema_of({"id": {"type": "integer"}})},
    )
    with pytest.raises(SpecError, match="versions table 'notes_history'"):
        load_spec(str(path))


@pytest.mark.parametrize(("key", "relation"), [("history", "versions"), ("soft_delete", "restore")])
def test_a_relation_taking_the_path_of_the_history_or_soft_delete_routes_is_refused(
    write_spec, schema_of, key, relation
):
    uid = {"type": "string", "format": "uuid"}
    path = write_spec(
        f"""
        version: 1
        resources:
          notes:
            schema: schemas/note.json
            {key}: {{}}
            relations:
              {relation}: {{through: note_tags, key: note_id, other: tag_id}}
          tags: {{schema: schemas/tag.json}}
          note_tags:
            schema: schemas/note_tag.json
            references: {{note_id: {{resource: notes}}, tag_id: {{resource: tags}}}}
        """,
        {
            "schemas/note.json": schema_of({"id": uid}),
            "schemas/tag.json": schema_of({"id": uid}),
            "schemas/note_tag.json": schema_of({"id": uid, "note_id": uid, "tag_id": uid}),
        },
    )
    with pytest.raises(SpecError, match=f"relation '{relation}' would take the path of the {key} routes"):
        load_spec(str(path))


def test_a_malformed_age_is_refused(write_spec, schema_of):
    path = write_spec(
        "version: 1\nresources:\n  notes:\n    schema: schemas/note.json\n    history: {max_age: 3 weeks}\n",
        {"schemas/note.json": schema_of({"id": {"type": "integer"}})},
    )
    with pytest.raises(SpecError, match="max_age"):
        load_spec(str(path))


@pytest.mark.parametrize("plugin", ["soft_delete", "history"])
def test_a_plugin_serving_a_declared_key_cannot_be_disabled(write_spec, schema_of, plugin):
    path = write_spec(
        f"""
        version: 1
        plugins: {{disabled: [{plugin}]}}
        resources:
          notes: {{schema: schemas/note.json, {plugin}: {{}}}}
        """,
        {"schemas/note.json": schema_of({"id": {"type": "integer"}})},
    )
    with pytest.raises(SpecError, match=f"the {plugin} plugin serves"):
        load_spec(str(path))


class TestInTheBackground:
    """Retention and purges also run by themselves, every ENGINE_*_INTERVAL seconds."""

    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_HISTORY_PRUNE_INTERVAL": "0.05", "ENGINE_SOFT_DELETE_PURGE_INTERVAL": "0.05"}

    async def test_the_versions_beyond_keep_are_pruned_in_the_background(self, api):
        alice = await api.as_user("alice")
        shelf = (await alice.post("/api/shelves", json={"name": "v1"})).json["data"]
        for name in ("v2", "v3", "v4"):
            await alice.patch(f"/api/shelves/{shelf['id']}", json={"name": name})

        async def pruned() -> bool:
            rows = await api.sql("select version from shelves_history where record_id = $1", shelf["id"])
            return sorted(r["version"] for r in rows) == [3, 4]

        await wait_until(pruned, "the background prune to keep the newest 2 versions")

    async def test_rows_deleted_longer_ago_than_purge_after_are_purged_in_the_background(self, api):
        alice = await api.as_user("alice")
        old, recent = [(await alice.post("/api/shelves", json={"name": n})).json["data"] for n in ("old", "recent")]
        for shelf in (old, recent):
            await alice.delete(f"/api/shelves/{shelf['id']}")
        await api.sql("update shelves set deleted_at = now() - interval '2 days' where id = $1", old["id"])

        async def purged() -> bool:
            return [r["name"] for r in await api.sql("select name from shelves")] == ["recent"]

        await wait_until(purged, "the background purge of the shelf deleted 2 days ago")
