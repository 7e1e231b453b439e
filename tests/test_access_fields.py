"""Path, action and field rules on a spec written here: nothing in the engine knows about teams.

projects have a lead (owner) and a crew (people, through crew rows with a rank and an active
flag). Tasks belong to a project: its active crew read them (two hops), its lead and crew change
them; a task's `notes` are the lead's alone, its `status` may be set by the crew only to open or
done; a project's `budget` is read by its lead and its chiefs.
"""

from __future__ import annotations

import pytest

from engine.features.query_cache.plugin import LISTENER
from engine.http.keys import MANAGERS
from engine.kernel.identity import Identity
from engine.resources.context import WriteContext

SPEC = """
version: 1
resources:
  people:
    schema: person.json
    owner: id
    permissions: {list: [admin], read: [user], create: [admin], update: [admin], delete: [admin]}
  projects:
    schema: project.json
    owner: lead
    references:
      lead: {resource: people, on_delete: cascade}
    relations:
      crew: {through: crew, key: project_id, other: person_id}
    cache: {ttl: 300}
    access:
      read: [owner, {path: [crew], where: {crew: {active: true}}}]
      update: [owner]
      attach: [owner]
      delete: [owner]
      fields:
        budget: {read: [owner, {path: [crew], where: {crew: {rank: chief, active: true}}}]}
  crew:
    schema: crew.json
    unique: [[project_id, person_id]]
    references:
      project_id: {resource: projects, on_delete: cascade}
      person_id: {resource: people, on_delete: cascade}
    permissions: {list: [admin], read: [admin], create: [admin], update: [admin], delete: [admin]}
  tasks:
    schema: task.json
    references:
      project_id: {resource: projects, on_delete: cascade}
    access:
      read: &crew [{path: [projects]}, {path: [project_id, crew], where: {crew: {active: true}}}]
      update: *crew
      delete: [{path: [projects]}]
      fields:
        notes: {read: [{path: [projects]}], write: [{path: [projects]}]}
        score: {read: [{path: [projects]}]}
        status: {write: [{path: [projects]}, {where: {status: [open, done]}}]}
"""


def schemas(object_schema):
    uuid = {"type": "string", "format": "uuid"}
    return {
        "person.json": object_schema({"id": {"type": "string"}, "name": {"type": "string"}}, ["id"]),
        "project.json": object_schema(
            {
                "id": {**uuid, "readOnly": True},
                "lead": {"type": "string"},
                "title": {"type": "string"},
                "budget": {"type": "integer"},
            },
            ["title"],
        ),
        "crew.json": object_schema(
            {
                "id": {**uuid, "readOnly": True},
                "project_id": uuid,
                "person_id": {"type": "string"},
                "rank": {"enum": ["chief", "hand"], "default": "hand"},
                "active": {"type": "boolean", "default": True},
            },
            ["project_id", "person_id"],
        ),
        "task.json": object_schema(
            {
                "id": {**uuid, "readOnly": True},
                "project_id": uuid,
                "title": {"type": "string"},
                "notes": {"type": "string"},
                "status": {"enum": ["open", "done", "cancelled"], "default": "open"},
                "score": {"type": "integer", "default": 5},
            },
            ["project_id", "title"],
        ),
    }


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    return str(write_spec(SPEC, schemas(schema_of)))


class Cast:
    """lea leads the project; chi is a chief, han a hand, old an inactive hand; out is outside."""

    def __init__(self, api, clients, project, task):
        self.api = api
        self.lea, self.chi, self.han, self.old, self.out = clients
        self.project, self.task = project, task


async def cast(api) -> Cast:
    admin = await api.as_admin()
    names = ("lea", "chi", "han", "old", "out")
    for name in names:
        assert (await admin.post("/api/people", json={"id": name})).status == 201
    clients = [api.with_token(api.token(name)) for name in names]
    lea = clients[0]
    project = (await lea.post("/api/projects", json={"title": "Bridge", "budget": 900})).json["data"]["id"]
    for person, rank, active in (("chi", "chief", True), ("han", "hand", True), ("old", "hand", False)):
        body = {"person_id": person, "rank": rank, "active": active}
        assert (await lea.post(f"/api/projects/{project}/crew", json=body)).status == 201
    created = await admin.post("/api/tasks", json={"project_id": project, "title": "Pour", "notes": "lea only"})
    assert created.status == 201, created.text
    return Cast(api, clients, project, created.json["data"]["id"])


# --- rows: two hops, conditions on the rows passed through --------------------------------------------


async def test_active_crew_reads_tasks_two_hops_away(api):
    c = await cast(api)
    for client in (c.lea, c.chi, c.han):
        assert (await client.get(f"/api/tasks/{c.task}")).status == 200
    assert [t["id"] for t in (await c.han.get("/api/tasks")).json["data"]] == [c.task]


@pytest.mark.parametrize("who", ["old", "out"])
async def test_inactive_crew_and_outsiders_get_404(api, expect_problem, who):
    c = await cast(api)
    client = getattr(c, who)
    expect_problem(await client.get(f"/api/tasks/{c.task}"), 404)
    expect_problem(await client.patch(f"/api/tasks/{c.task}", json={"title": "x"}), 404)
    assert (await client.get("/api/tasks")).json["data"] == []


async def test_crew_updates_but_gets_403_deleting(api, expect_problem):
    c = await cast(api)
    assert (await c.han.patch(f"/api/tasks/{c.task}", json={"title": "Pour concrete"})).status == 200
    expect_problem(await c.han.delete(f"/api/tasks/{c.task}"), 403)
    assert (await c.lea.delete(f"/api/tasks/{c.task}")).status == 204


async def test_attach_has_its_own_right(api, expect_problem):
    c = await cast(api)
    expect_problem(await c.chi.post(f"/api/projects/{c.project}/crew", json={"person_id": "out"}), 403)


# --- field reads --------------------------------------------------------------------------------------


async def test_a_field_is_absent_for_callers_its_rule_refuses(api):
    c = await cast(api)
    assert (await c.lea.get(f"/api/projects/{c.project}")).json["data"]["budget"] == 900
    assert (await c.chi.get(f"/api/projects/{c.project}")).json["data"]["budget"] == 900
    hand = (await c.han.get(f"/api/projects/{c.project}")).json["data"]
    assert "budget" not in hand and hand["title"] == "Bridge"


async def test_a_field_is_absent_from_lists_includes_and_projections(api):
    c = await cast(api)
    assert "budget" not in (await c.han.get("/api/projects")).json["data"][0]
    assert "budget" not in (await c.han.get("/api/tasks?include=project")).json["data"][0]["project"]
    assert (await c.chi.get("/api/tasks?include=project")).json["data"][0]["project"]["budget"] == 900
    assert (await c.han.get(f"/api/projects/{c.project}?fields=id,budget")).json["data"] == {"id": c.project}


async def test_a_stored_null_stays_a_null_for_those_who_may_read_it(api):
    c = await cast(api)
    await api.sql("update projects set budget = null")
    assert (await c.chi.get(f"/api/projects/{c.project}")).json["data"]["budget"] is None


@pytest.mark.parametrize("query", ["budget=900", "budget[gt]=1", "sort=budget", "sort=-budget"])
async def test_filtering_or_sorting_by_a_ruled_field_is_a_400_like_an_unknown_field(api, expect_problem, query):
    c = await cast(api)
    refused = expect_problem(await c.chi.get(f"/api/projects?{query}"), 400)
    unknown = expect_problem(await c.chi.get(f"/api/projects?{query.replace('budget', 'nothing')}"), 400)
    assert refused["detail"].replace("budget", "nothing").split(";")[0] == unknown["detail"].split(";")[0]


async def test_admins_filter_by_any_field(api):
    c = await cast(api)
    admin = await api.as_admin()
    assert len((await admin.get("/api/projects?budget=900")).json["data"]) == 1
    del c


async def test_a_write_response_leaves_out_what_the_writer_may_not_read(api):
    c = await cast(api)
    patched = await c.han.patch(f"/api/tasks/{c.task}", json={"title": "Renamed"})
    assert patched.status == 200 and "notes" not in patched.json["data"]
    assert (await c.lea.get(f"/api/tasks/{c.task}")).json["data"]["notes"] == "lea only"


@pytest.mark.parametrize(("who", "readable"), [("han", frozenset()), ("lea", frozenset({"notes", "score"}))])
async def test_the_update_statement_itself_says_which_ruled_fields_the_writer_may_read(api, who, readable):
    """No second query after the write: the flags come back with the written row (ResourceManager._alone)."""
    c = await cast(api)
    context = WriteContext(Identity(who, frozenset({"user"})))
    row = await api.app[MANAGERS]["tasks"].update(c.task, {"title": "Renamed"}, context)
    assert context.readable == readable
    assert row["title"] == "Renamed" and not any(key.startswith("_") for key in row)


async def test_a_create_response_and_its_idempotent_replay_leave_out_what_the_creator_may_not_read(api):
    c = await cast(api)
    headers = {"Idempotency-Key": "task-1"}
    body = {"project_id": c.project, "title": "Seal"}
    first = await c.han.post("/api/tasks", json=body, headers=headers)
    replay = await c.han.post("/api/tasks", json=body, headers=headers)
    assert first.status == replay.status == 201 and first.json == replay.json
    assert "score" not in first.json["data"] and first.json["data"]["title"] == "Seal"
    assert (await c.lea.get(first.headers["Location"])).json["data"]["score"] == 5


async def test_cached_bodies_follow_each_callers_field_rules(api):
    c = await cast(api)
    await api.app[LISTENER].settle()
    for _ in range(2):  # the second read of each may come from the cache
        assert (await c.chi.get(f"/api/projects/{c.project}")).json["data"]["budget"] == 900
        assert "budget" not in (await c.han.get(f"/api/projects/{c.project}")).json["data"]


# --- field writes ---------------------------------------------------------------------------------------


async def test_writing_a_field_its_rule_refuses_is_a_403(api, expect_problem):
    c = await cast(api)
    expect_problem(await c.han.patch(f"/api/tasks/{c.task}", json={"notes": "mine"}), 403)
    (stored,) = await api.sql("select notes from tasks")
    assert stored["notes"] == "lea only"


async def test_a_write_rule_limits_the_values_a_caller_may_set(api, expect_problem):
    c = await cast(api)
    expect_problem(await c.han.patch(f"/api/tasks/{c.task}", json={"status": "cancelled"}), 403)
    assert (await c.han.patch(f"/api/tasks/{c.task}", json={"status": "done"})).status == 200
    assert (await c.lea.patch(f"/api/tasks/{c.task}", json={"status": "cancelled"})).status == 200


async def test_a_write_rule_applies_on_create_too(api, expect_problem):
    c = await cast(api)
    body = {"project_id": c.project, "title": "Cure", "status": "cancelled"}
    expect_problem(await c.han.post("/api/tasks", json=body), 403)
    assert (await c.lea.post("/api/tasks", json=body)).status == 201


async def test_a_bulk_update_answers_each_row_without_the_fields_the_caller_may_not_read(api):
    c = await cast(api)
    patched = await c.han.patch(f"/api/tasks?project_id={c.project}", json={"title": "Poured"})
    assert patched.status == 200, patched.text
    (row,) = patched.json["data"]
    assert row["title"] == "Poured" and "notes" not in row and "score" not in row
    (lead,) = (await c.lea.patch(f"/api/tasks?project_id={c.project}", json={"title": "Set"})).json["data"]
    assert lead["notes"] == "lea only"
