"""The outbox: every create, update and delete writes its event in the same transaction."""

from __future__ import annotations

import pytest
from events_support import event_rows

from engine.http.keys import PLUGINS
from engine.kernel.errors import Conflict
from engine.kernel.hooks import hookimpl


async def test_creating_a_row_writes_a_created_event_with_the_row_and_the_actor(api):
    alice = await api.as_user("alice")
    created = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

    [event] = [e for e in await event_rows(api) if e["resource"] == "agents"]

    assert (event["action"], event["record_id"], event["actor"]) == ("created", created["id"], "alice")
    assert event["data"] == {k: v for k, v in created.items() if k != "system_prompt"}
    assert event["changes"] is None
    assert event["at"] is not None


async def test_updating_a_row_records_each_changed_field_before_and_after(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

    await alice.patch(f"/api/agents/{agent['id']}", json={"name": "Planner", "status": "active"})

    event = (await event_rows(api))[-1]
    assert event["action"] == "updated"
    assert event["changes"] == {
        "name": {"before": "Helper", "after": "Planner"},
        "status": {"before": "draft", "after": "active"},
    }
    assert event["data"]["name"] == "Planner"


async def test_deleting_a_row_records_the_row_as_it_was(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

    await alice.delete(f"/api/agents/{agent['id']}")

    event = (await event_rows(api))[-1]
    assert (event["action"], event["record_id"], event["actor"]) == ("deleted", agent["id"], "alice")
    assert event["data"]["name"] == "Helper"


async def test_excluded_fields_never_appear_in_data_or_changes(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper", "system_prompt": "hush-1"})).json["data"]
    await alice.patch(f"/api/agents/{agent['id']}", json={"system_prompt": "hush-2"})

    for event in [e for e in await event_rows(api) if e["resource"] == "agents"]:
        assert "system_prompt" not in event["data"]
        assert "system_prompt" not in (event["changes"] or {})
        assert "hush" not in str(event)


async def test_event_ids_increase_in_the_order_of_the_writes(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "v0"})).json["data"]
    for version in range(1, 6):
        await alice.patch(f"/api/agents/{agent['id']}", json={"name": f"v{version}"})

    events = [e for e in await event_rows(api) if e["record_id"] == agent["id"]]

    assert [e["data"]["name"] for e in events] == [f"v{i}" for i in range(6)]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)


async def test_deleting_a_user_emits_deleted_events_for_the_rows_the_cascade_removes(api):
    admin = await api.as_admin()
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]
    team = (await alice.post("/api/teams", json={"name": "Core"})).json["data"]
    await api.as_user("bob")
    await alice.post(f"/api/teams/{team['id']}/members", json={"user_id": "bob"})
    memberships = {("team_members", str(r["id"])) for r in await api.sql("select id from team_members")}
    before = len(await event_rows(api))

    assert (await admin.delete("/api/users/alice")).status == 204

    events = (await event_rows(api))[before:]
    deleted = {(e["resource"], e["record_id"]) for e in events}
    assert deleted == {
        ("agents", agent["id"]),
        ("teams", team["id"]),
        *memberships,  # bob's, and alice's own (the example app adds the creator as owner)
        ("users", "alice"),
    }
    assert {e["action"] for e in events} == {"deleted"}
    assert events[-1]["resource"] == "users"  # the cascaded rows come first, the row deleted last
    assert len({e["at"] for e in events}) == 1  # one transaction


async def test_nested_route_writes_emit_events_for_the_join_rows(api):
    alice = await api.as_user("alice")
    await api.as_user("bob")
    team = (await alice.post("/api/teams", json={"name": "Core"})).json["data"]

    await alice.post(f"/api/teams/{team['id']}/members", json={"user_id": "bob"})
    await alice.delete(f"/api/teams/{team['id']}/members/bob")

    joins = [e for e in await event_rows(api) if e["resource"] == "team_members" and e["data"]["user_id"] == "bob"]
    assert [e["action"] for e in joins] == ["created", "deleted"]


async def test_a_write_that_changes_nothing_stored_emits_nothing(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]
    before = len(await event_rows(api))

    assert (await alice.patch(f"/api/agents/{agent['id']}", json={})).status == 200

    assert len(await event_rows(api)) == before


async def test_a_write_refused_by_the_database_leaves_no_event(api):
    admin = await api.as_admin()
    await admin.post("/api/users", json={"id": "alice", "email": "alice@example.test"})
    before = len(await event_rows(api))

    duplicate = await admin.post("/api/users", json={"id": "alice2", "email": "alice@example.test"})

    assert duplicate.status == 409
    assert len(await event_rows(api)) == before


class FailsAfterTheEventIsWritten:
    """Raises in after_write once the outbox row exists, to prove the insert rolls back with the write.

    The outbox's after_write runs last among plugins registered before start-up, so this one is
    registered at start-up (see Installer): later-registered trylast hooks run after it.
    """

    def __init__(self) -> None:
        self.saw_event_inside = False

    @hookimpl(trylast=True)
    async def after_write(self, conn, resource, action, record):
        if resource.name == "agents":
            found = await conn.fetchval("select count(*) from _engine_events where record_id = $1", str(record["id"]))
            self.saw_event_inside = found > 0
            raise Conflict("refused after the event was written")


class Installer:
    def __init__(self, late: object):
        self.late = late

    @hookimpl
    def startup(self, app):
        app[PLUGINS].register(self.late)


class RefusesUpdates:
    @hookimpl
    def before_write(self, resource, action):
        if resource.name == "users" and action == "update":
            raise Conflict("user updates are frozen")


class TestRollback:
    @pytest.fixture
    def late_failure(self):
        return FailsAfterTheEventIsWritten()

    @pytest.fixture
    def engine_plugins(self, late_failure):
        return [Installer(late_failure), RefusesUpdates()]

    async def test_a_write_failing_after_its_event_was_written_leaves_no_event(self, api, late_failure):
        alice = await api.as_user("alice")

        refused = await alice.post("/api/agents", json={"name": "Helper"})

        assert refused.status == 409
        assert late_failure.saw_event_inside
        assert [e for e in await event_rows(api) if e["resource"] == "agents"] == []
        assert await api.sql("select * from agents") == []

    async def test_a_write_refused_in_before_write_leaves_no_event(self, api):
        alice = await api.as_user("alice")
        before = len(await event_rows(api))

        refused = await alice.patch("/api/users/alice", json={"name": "Alice"})

        assert refused.status == 409
        assert len(await event_rows(api)) == before


FOLDERS_SPEC = """
    version: 1
    resources:
      folders:
        schema: schemas/folder.json
        owner: owner_id
      notes:
        schema: schemas/note.json
        owner: owner_id
        references:
          folder_id: {resource: folders, on_delete: set null}
      stickers:
        schema: schemas/sticker.json
        owner: owner_id
        references:
          folder_id: {resource: folders, on_delete: cascade}
        events: {emit: [created]}
"""


class TestDeclaredEvents:
    @pytest.fixture
    def engine_spec_path(self, write_spec, schema_of):
        uid = {"type": "string", "format": "uuid", "readOnly": True}
        owner = {"type": "string"}
        folder = {"type": ["string", "null"], "format": "uuid"}
        return str(
            write_spec(
                FOLDERS_SPEC,
                {
                    "schemas/folder.json": schema_of({"id": uid, "owner_id": owner, "name": {"type": "string"}}),
                    "schemas/note.json": schema_of({"id": uid, "owner_id": owner, "folder_id": folder}),
                    "schemas/sticker.json": schema_of({"id": uid, "owner_id": owner, "folder_id": folder}),
                },
            )
        )

    async def test_a_resource_emits_only_the_actions_it_declares(self, api):
        alice = await api.as_user("alice")
        sticker = (await alice.post("/api/stickers", json={})).json["data"]
        await alice.patch(f"/api/stickers/{sticker['id']}", json={"folder_id": None})
        await alice.delete(f"/api/stickers/{sticker['id']}")

        assert [e["action"] for e in await event_rows(api)] == ["created"]

    async def test_a_set_null_reference_emits_an_updated_event_for_each_row_it_changes(self, api):
        alice = await api.as_user("alice")
        folder = (await alice.post("/api/folders", json={"name": "Inbox"})).json["data"]
        note = (await alice.post("/api/notes", json={"folder_id": folder["id"]})).json["data"]
        await alice.post("/api/stickers", json={"folder_id": folder["id"]})
        before = len(await event_rows(api))

        await alice.delete(f"/api/folders/{folder['id']}")

        events = (await event_rows(api))[before:]
        assert [(e["resource"], e["action"]) for e in events] == [("notes", "updated"), ("folders", "deleted")]
        assert events[0]["record_id"] == note["id"]
        assert events[0]["changes"] == {"folder_id": {"before": folder["id"], "after": None}}
        assert events[0]["data"]["folder_id"] is None
