"""A reference may not point at a soft-deleted row: writes answer as for a missing row, and write nothing.

The example app's team_agents reference teams and agents, which both soft-delete (admins write
team_agents directly; members share agents through /api/teams/{id}/agents). The foreign key sees
a soft-deleted row as there: the condition the write's own statement carries sees it as gone
(engine.sql.references).
"""

from __future__ import annotations

import uuid

import pytest
from team_helpers import create_agent, create_team

from engine.spec import load_spec
from engine.sql.queries import ResourceQueries
from engine.sql.references import live_references

MERGE = {"Prefer": "resolution=merge-duplicates"}


def answer(result) -> tuple[int, list]:
    """What a caller learns from a refusal: its status and errors (never which rows exist but are deleted)."""
    return result.status, result.json.get("errors")


async def deleted_team(client) -> str:
    team = await create_team(client, "gone")
    assert (await client.delete(f"/api/teams/{team}")).status == 204
    return team


async def deleted_agent(client) -> str:
    agent = await create_agent(client, "gone")
    assert (await client.delete(f"/api/agents/{agent}")).status == 204
    return agent


async def links(api) -> list[tuple[str, str]]:
    rows = await api.sql("select team_id::text, agent_id::text from team_agents order by team_id, agent_id")
    return [(r["team_id"], r["agent_id"]) for r in rows]


async def test_a_create_pointing_at_a_soft_deleted_team_answers_as_for_a_missing_one(api, expect_problem):
    admin = await api.as_admin()
    agent, team = await create_agent(admin), await deleted_team(admin)
    refused = await admin.post("/api/team_agents", json={"team_id": team, "agent_id": agent})
    missing = await admin.post("/api/team_agents", json={"team_id": str(uuid.uuid4()), "agent_id": agent})
    assert expect_problem(refused, 422)["errors"] == [{"path": "/team_id", "message": "no teams row with this id"}]
    assert answer(refused) == answer(missing)
    assert await links(api) == []


async def test_a_create_pointing_at_a_soft_deleted_agent_answers_as_for_a_missing_one(api, expect_problem):
    admin = await api.as_admin()
    team, agent = await create_team(admin), await deleted_agent(admin)
    refused = await admin.post("/api/team_agents", json={"team_id": team, "agent_id": agent})
    assert expect_problem(refused, 422)["errors"] == [{"path": "/agent_id", "message": "no agents row with this id"}]
    assert await links(api) == []


async def test_a_create_pointing_at_live_rows_still_succeeds(api):
    admin = await api.as_admin()
    team, agent = await create_team(admin), await create_agent(admin)
    created = await admin.post("/api/team_agents", json={"team_id": team, "agent_id": agent})
    assert created.status == 201, created.text
    assert await links(api) == [(team, agent)]


async def test_an_update_pointing_a_reference_at_a_soft_deleted_row_changes_nothing(api, expect_problem):
    admin = await api.as_admin()
    team, agent, gone = await create_team(admin), await create_agent(admin), await deleted_agent(admin)
    link = (await admin.post("/api/team_agents", json={"team_id": team, "agent_id": agent})).json["data"]
    refused = await admin.patch(f"/api/team_agents/{link['id']}", json={"agent_id": gone})
    assert expect_problem(refused, 422)["errors"] == [{"path": "/agent_id", "message": "no agents row with this id"}]
    assert await links(api) == [(team, agent)]


async def test_an_update_keeping_a_reference_to_a_row_deleted_since_is_accepted_as_the_foreign_key_would(api):
    admin = await api.as_admin()
    team, agent = await create_team(admin), await create_agent(admin)
    link = (await admin.post("/api/team_agents", json={"team_id": team, "agent_id": agent})).json["data"]
    await admin.delete(f"/api/agents/{agent}")
    kept = await admin.patch(f"/api/team_agents/{link['id']}", json={"agent_id": agent})
    assert kept.status == 200, kept.text


async def test_a_bulk_create_with_one_reference_to_a_soft_deleted_row_creates_nothing(api, expect_problem):
    admin = await api.as_admin()
    team, agent, gone = await create_team(admin), await create_agent(admin), await deleted_agent(admin)
    items = [{"team_id": team, "agent_id": agent}, {"team_id": team, "agent_id": gone}]
    refused = await admin.post("/api/team_agents", json=items)
    missing = await admin.post("/api/team_agents", json=[items[0], {"team_id": team, "agent_id": str(uuid.uuid4())}])
    assert expect_problem(refused, 422)["errors"] == [{"path": "/agent_id", "message": "no agents row with this id"}]
    assert answer(refused) == answer(missing)
    assert await links(api) == []


async def test_a_bulk_update_pointing_rows_at_a_soft_deleted_row_changes_none(api, expect_problem):
    admin = await api.as_admin()
    team, gone = await create_team(admin), await deleted_team(admin)
    agents = [await create_agent(admin, name) for name in ("a", "b")]
    for agent in agents:
        await admin.post("/api/team_agents", json={"team_id": team, "agent_id": agent})
    refused = await admin.patch(f"/api/team_agents?team_id={team}", json={"team_id": gone})
    assert expect_problem(refused, 422)["errors"] == [{"path": "/team_id", "message": "no teams row with this id"}]
    assert sorted(await links(api)) == sorted((team, agent) for agent in agents)


async def test_an_upsert_creating_a_row_that_points_at_a_soft_deleted_row_writes_nothing(api, expect_problem):
    admin = await api.as_admin()
    agent, gone = await create_agent(admin), await deleted_team(admin)
    sent = [{"team_id": gone, "agent_id": agent}]
    refused = await admin.post("/api/team_agents?on_conflict=team_id,agent_id", json=sent, headers=MERGE)
    assert expect_problem(refused, 422)["errors"] == [{"path": "/team_id", "message": "no teams row with this id"}]
    assert await links(api) == []


async def test_a_put_creating_a_row_that_points_at_a_soft_deleted_row_writes_nothing(api, expect_problem):
    admin = await api.as_admin()
    agent, gone = await create_agent(admin), await deleted_team(admin)
    refused = await admin.put(f"/api/team_agents/{uuid.uuid4()}", json={"team_id": gone, "agent_id": agent})
    assert expect_problem(refused, 422)["errors"] == [{"path": "/team_id", "message": "no teams row with this id"}]
    assert await links(api) == []


async def test_a_put_replacing_a_row_with_a_reference_to_a_soft_deleted_row_changes_nothing(api, expect_problem):
    admin = await api.as_admin()
    team, agent, gone = await create_team(admin), await create_agent(admin), await deleted_agent(admin)
    link = (await admin.post("/api/team_agents", json={"team_id": team, "agent_id": agent})).json["data"]
    refused = await admin.put(f"/api/team_agents/{link['id']}", json={"team_id": team, "agent_id": gone})
    assert expect_problem(refused, 422)["errors"] == [{"path": "/agent_id", "message": "no agents row with this id"}]
    assert await links(api) == [(team, agent)]


async def test_a_batch_with_an_operation_pointing_at_a_soft_deleted_row_writes_nothing(api, expect_problem):
    admin = await api.as_admin()
    team, gone = await create_team(admin), await deleted_agent(admin)
    operations = [
        {"method": "POST", "path": "/api/agents", "body": {"name": "new"}},
        {"method": "POST", "path": "/api/team_agents", "body": {"team_id": team, "agent_id": {"$ref": "0/data/id"}}},
        {"method": "POST", "path": "/api/team_agents", "body": {"team_id": team, "agent_id": gone}},
    ]
    refused = await admin.post("/api/batch", json={"operations": operations})
    problem = expect_problem(refused, 422)
    assert problem["operation"] == 2
    assert problem["errors"] == [{"path": "/agent_id", "message": "no agents row with this id"}]
    assert await links(api) == []
    assert await api.sql("select id from agents where name = 'new'") == []


async def test_sharing_a_soft_deleted_agent_with_a_team_answers_as_for_a_missing_agent(api, expect_problem):
    alice = await api.as_user("alice")
    team, gone = await create_team(alice), await deleted_agent(alice)
    refused = await alice.post(f"/api/teams/{team}/agents", json={"agent_id": gone})
    missing = await alice.post(f"/api/teams/{team}/agents", json={"agent_id": str(uuid.uuid4())})
    expect_problem(refused, 422)
    assert answer(refused) == answer(missing)
    assert await links(api) == []


def test_a_resource_whose_references_point_at_no_soft_deleting_resource_writes_as_before():
    spec = load_spec("resources.yaml")
    agents = spec.resources["agents"]  # user_id -> users, which do not soft-delete
    assert live_references(spec, agents) == ()
    queries = ResourceQueries(agents, live_references(spec, agents))
    assert "VALUES" in queries.insert(("user_id", "name")).sql and "EXISTS" not in queries.insert(("name",)).sql
    assert "EXISTS" not in queries.update(("user_id",), ()).sql


def test_a_write_setting_a_reference_to_a_soft_deleting_resource_checks_it_in_its_own_statement():
    spec = load_spec("resources.yaml")
    members = spec.resources["team_members"]  # team_id -> teams (soft_delete), user_id -> users
    queries = ResourceQueries(members, live_references(spec, members))
    insert = queries.insert(("team_id", "user_id", "role")).sql
    assert insert.count("EXISTS") == 1 and '"teams"' in insert and '"users"' not in insert
    assert "EXISTS" not in queries.update(("role",), ()).sql  # a write that leaves the reference alone


FOLDERS = """
version: 1
resources:
  folders:
    schema: schemas/folder.json
    owner: owner_id
    soft_delete: {}
    references:
      parent_id: {resource: folders, on_delete: cascade}  # a reference to its own resource
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
  notes:
    schema: schemas/note.json
    owner: owner_id
    soft_delete: {}
    events: {emit: [created, updated, deleted]}  # a create folds its event into its statement
    references:
      folder_id: {resource: folders, on_delete: cascade}
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
"""


class TestRestore:
    """Restoring a deleted row whose own reference points at a deleted row: refused until that one is back."""

    @pytest.fixture
    def engine_spec_path(self, write_spec, schema_of):
        uid = {"type": "string", "format": "uuid", "readOnly": True}
        folder = schema_of(
            {
                "id": uid,
                "owner_id": {"type": "string"},
                "name": {"type": "string"},
                "parent_id": {"type": "string", "format": "uuid"},
            }
        )
        note = schema_of(
            {
                "id": uid,
                "owner_id": {"type": "string"},
                "folder_id": {"type": "string", "format": "uuid"},
                "meta": {"type": "object"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "score": {"type": "number"},
                "count": {"type": "integer"},
                "done": {"type": "boolean"},
                "due": {"type": "string", "format": "date-time"},
            },
            ["folder_id"],
        )
        return str(write_spec(FOLDERS, {"schemas/folder.json": folder, "schemas/note.json": note}))

    async def test_restoring_a_row_whose_referenced_row_is_deleted_is_409_naming_it(self, api, expect_problem):
        alice = await api.as_user("alice")
        folder = (await alice.post("/api/folders", json={"name": "f"})).json["data"]["id"]
        note = (await alice.post("/api/notes", json={"folder_id": folder})).json["data"]["id"]
        await alice.delete(f"/api/notes/{note}")
        await alice.delete(f"/api/folders/{folder}")
        problem = expect_problem(await alice.post(f"/api/notes/{note}/restore"), 409)
        assert "folders (folder_id)" in problem["detail"] and problem["fields"] == ["folder_id"]
        assert (await api.sql("select deleted_at from notes"))[0]["deleted_at"] is not None

    async def test_restoring_the_referenced_row_first_lets_the_row_come_back(self, api):
        alice = await api.as_user("alice")
        folder = (await alice.post("/api/folders", json={"name": "f"})).json["data"]["id"]
        note = (await alice.post("/api/notes", json={"folder_id": folder})).json["data"]["id"]
        await alice.delete(f"/api/notes/{note}")
        await alice.delete(f"/api/folders/{folder}")
        assert (await alice.post(f"/api/folders/{folder}/restore")).status == 200
        restored = await alice.post(f"/api/notes/{note}/restore")
        assert restored.status == 200, restored.text

    async def test_a_create_in_a_deleted_folder_answers_as_for_a_missing_folder(self, api, expect_problem):
        alice = await api.as_user("alice")
        folder = (await alice.post("/api/folders", json={"name": "f"})).json["data"]["id"]
        await alice.delete(f"/api/folders/{folder}")
        refused = await alice.post("/api/notes", json={"folder_id": folder})
        errors = expect_problem(refused, 422)["errors"]
        assert errors == [{"path": "/folder_id", "message": "no folders row with this id"}]
        assert await api.sql("select id from notes") == []
        assert await api.sql("select id from _engine_events where resource = 'notes'") == []

    async def test_a_create_in_a_live_folder_stores_values_of_every_type(self, api):
        alice = await api.as_user("alice")
        folder = (await alice.post("/api/folders", json={"name": "f"})).json["data"]["id"]
        sent = {
            "folder_id": folder,
            "meta": {"a": [1, {"b": None}]},
            "tags": ["x", "y"],
            "score": 1.5,
            "count": 2**62,
            "done": True,
            "due": "2026-01-02T03:04:05+00:00",
        }
        created = await alice.post("/api/notes", json=sent)
        assert created.status == 201, created.text
        assert {k: created.json["data"][k] for k in sent} == sent
        assert len(await api.sql("select id from _engine_events where resource = 'notes'")) == 1

    async def test_a_subfolder_of_a_deleted_folder_answers_as_for_a_missing_parent(self, api, expect_problem):
        alice = await api.as_user("alice")
        parent = (await alice.post("/api/folders", json={"name": "parent"})).json["data"]["id"]
        await alice.delete(f"/api/folders/{parent}")
        refused = await alice.post("/api/folders", json={"name": "child", "parent_id": parent})
        errors = expect_problem(refused, 422)["errors"]
        assert errors == [{"path": "/parent_id", "message": "no folders row with this id"}]

    async def test_a_row_referencing_itself_is_restored(self, api):
        alice = await api.as_user("alice")
        folder = (await alice.post("/api/folders", json={"name": "loop"})).json["data"]["id"]
        assert (await alice.patch(f"/api/folders/{folder}", json={"parent_id": folder})).status == 200
        await alice.delete(f"/api/folders/{folder}")
        restored = await alice.post(f"/api/folders/{folder}/restore")
        assert restored.status == 200, restored.text
