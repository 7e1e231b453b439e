"""?include= embeds related rows: one query per included relation, and only rows the caller may read."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from team_helpers import add_member, create_agent, create_team, share_agent, team_with_roles

from engine.db.pool import EnginePool
from engine.features.relations.service import RELATIONS
from engine.plugin import hookimpl


async def test_single_read_embeds_members_and_agents(api):
    team = await team_with_roles(api)
    agent_id = await create_agent(team.alice)
    await share_agent(team.alice, team.id, agent_id)
    got = await team.carol.get(f"{team.url}?include=members,agents")
    assert got.status == 200, got.text
    row = got.json["data"]
    assert sorted((m["user_id"], m["role"]) for m in row["members"]) == [
        ("alice", "owner"),
        ("bob", "admin"),
        ("carol", "member"),
    ]
    assert [a["agent_id"] for a in row["agents"]] == [agent_id]


async def test_list_embeds_each_rows_own_relations(api):
    alice, _ = await api.as_user("alice"), await api.as_user("bob")
    solo, shared = await create_team(alice, "Solo"), await create_team(alice, "Shared")
    await add_member(api, alice, shared, "bob")
    listed = await alice.get("/api/teams?include=members&sort=name")
    members = {row["id"]: sorted(m["user_id"] for m in row["members"]) for row in listed.json["data"]}
    assert members == {shared: ["alice", "bob"], solo: ["alice"]}


async def test_relation_without_rows_embeds_an_empty_list(api):
    alice = await api.as_user("alice")
    team_id = await create_team(alice)
    got = await alice.get(f"/api/teams/{team_id}?include=agents")
    assert got.json["data"]["agents"] == []


async def test_belongs_to_embeds_the_referenced_row(api):
    alice = await api.as_user("alice", name="Alice")
    await create_agent(alice)
    listed = await alice.get("/api/agents?include=user")
    (row,) = listed.json["data"]
    assert row["user"]["id"] == "alice" and row["user"]["name"] == "Alice"
    assert row["user_id"] == "alice"


async def test_belongs_to_is_also_accepted_by_its_column_name(api):
    alice = await api.as_user("alice")
    agent_id = await create_agent(alice)
    got = await alice.get(f"/api/agents/{agent_id}?include=user_id")
    assert got.json["data"]["user"]["id"] == "alice"


async def test_include_works_with_fields_and_adds_no_unrequested_columns(api):
    alice = await api.as_user("alice")
    await create_agent(alice, "Helper")
    listed = await alice.get("/api/agents?fields=name&include=user")
    (row,) = listed.json["data"]
    assert set(row) == {"name", "user"} and row["user"]["id"] == "alice"


async def test_include_on_nested_lists_embeds_from_the_join_rows(api):
    team = await team_with_roles(api)
    listed = await team.alice.get(f"{team.url}/members?include=user&user_id=alice")
    (row,) = listed.json["data"]
    assert row["user"]["email"] == "alice@example.test"


async def test_unknown_relation_is_400_naming_it(api, expect_problem):
    alice = await api.as_user("alice")
    team_id = await create_team(alice)
    body = expect_problem(await alice.get(f"/api/teams/{team_id}?include=members,friends"), 400)
    assert "friends" in body["detail"] and body["parameter"] == "include"
    expect_problem(await alice.get("/api/teams?include=friends"), 400)
    expect_problem(await alice.get(f"/api/teams/{team_id}/members?include=friends"), 400)


# --- access control on embedded rows ---------------------------------------------------------------


async def test_embedded_belongs_to_row_the_caller_may_not_read_is_null(api):
    """carol may read alice's agent (shared with her team) but not dave's users row: null."""
    alice, carol, dave = await api.as_user("alice"), await api.as_user("carol"), await api.as_user("dave")
    team_id = await create_team(alice)
    await add_member(api, alice, team_id, "carol")
    agent = (await dave.post("/api/agents", json={"name": "Dave's"})).json["data"]["id"]
    await api.sql("update agents set user_id = 'dave' where id = $1", agent)
    await api.sql("insert into team_agents (team_id, agent_id) values ($1, $2)", team_id, agent)
    got = await carol.get(f"/api/agents/{agent}?include=user")
    assert got.status == 200
    assert got.json["data"]["user"] is None and got.json["data"]["user_id"] == "dave"


async def test_embedded_co_member_shows_only_what_the_caller_may_read(api):
    """bob may read the team and, as a co-member, alice's id and name: not her email."""
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(alice)
    await add_member(api, alice, team_id, "bob")
    got = await bob.get(f"/api/teams/{team_id}?include=owner")
    assert got.json["data"]["owner"] == {"id": "alice", "name": None}


async def test_admin_sees_every_embedded_row(api):
    alice = await api.as_user("alice")
    team_id = await create_team(alice)
    admin = await api.as_admin()
    got = await admin.get(f"/api/teams/{team_id}?include=owner")
    assert got.json["data"]["owner"]["id"] == "alice"


async def test_embedding_on_a_list_shows_only_rows_the_caller_may_read(api):
    """Memberships are visible through the teams the caller can read; co-members' users rows as id and name."""
    team = await team_with_roles(api)
    await create_team(team.dave, "Private")
    listed = await team.carol.get("/api/teams?include=members")
    assert [row["id"] for row in listed.json["data"]] == [team.id]
    members = await team.carol.get(f"{team.url}/members?include=user&sort=user_id")
    users = [(row["user_id"], sorted(row["user"])) for row in members.json["data"]]
    assert users[:2] == [("alice", ["id", "name"]), ("bob", ["id", "name"])] and "email" in users[2][1]


async def test_non_member_cannot_reach_a_team_through_include(api, expect_problem):
    team = await team_with_roles(api)
    expect_problem(await team.dave.get(f"{team.url}?include=members"), 404)
    listed = await team.dave.get("/api/agents?include=user")
    assert listed.json["data"] == []


# --- the far side of a relation (tests/test_relations_far_side.py covers it on a spec of its own) ---


async def test_include_agents_carries_each_shared_agents_row(api):
    alice = await api.as_user("alice")
    team_id, agent_id = await create_team(alice), await create_agent(alice, "Helper")
    await share_agent(alice, team_id, agent_id)
    (link,) = (await alice.get(f"/api/teams/{team_id}?include=agents")).json["data"]["agents"]
    assert link["agent_id"] == agent_id and (link["agent"]["id"], link["agent"]["name"]) == (agent_id, "Helper")
    (listed,) = (await alice.get(f"/api/teams/{team_id}/agents")).json["data"]
    assert listed["agent"]["name"] == "Helper"


async def test_include_members_carries_each_members_user_row_as_the_caller_may_read_it(api):
    team = await team_with_roles(api)
    as_carol = await team.carol.get(f"{team.url}?include=members")
    users = {m["user_id"]: m["user"] for m in as_carol.json["data"]["members"]}
    assert users["carol"]["email"] == "carol@example.test"
    admin = await api.as_admin()
    as_admin = await admin.get(f"{team.url}?include=members")
    assert sorted(m["user"]["id"] for m in as_admin.json["data"]["members"]) == ["alice", "bob", "carol"]


class RequestTasks:
    """A plugin that remembers the task each request was handled in, by path and query."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task] = {}

    @hookimpl
    def register_middlewares(self, app, spec):
        @web.middleware
        async def remember(request: web.Request, handler):
            self.tasks[request.path_qs] = asyncio.current_task()
            return await handler(request)

        return [remember]


class TestOneConnection:
    """A read and its includes (one statement per level) take one pooled connection, not one each."""

    @pytest.fixture
    def request_tasks(self) -> RequestTasks:
        return RequestTasks()

    @pytest.fixture
    def engine_plugins(self, request_tasks):
        return [request_tasks]

    @pytest.fixture
    def acquires(self, monkeypatch) -> list[asyncio.Task]:
        """The task of every pool acquire from now on."""
        tasks: list[asyncio.Task] = []
        acquire = EnginePool.acquire_within_bound

        async def recorded(pool):
            tasks.append(asyncio.current_task())
            return await acquire(pool)

        monkeypatch.setattr(EnginePool, "acquire_within_bound", recorded)
        return tasks

    async def test_a_read_with_two_includes_acquires_once(self, api, request_tasks, acquires):
        team = await team_with_roles(api)
        await share_agent(team.alice, team.id, await create_agent(team.alice))
        path = f"{team.url}?include=members,agents"
        acquires.clear()
        got = await team.carol.get(path)
        assert got.status == 200 and len(got.json["data"]["agents"]) == 1, got.text
        assert sum(task is request_tasks.tasks[path] for task in acquires) == 1

    async def test_a_list_with_an_include_acquires_once(self, api, request_tasks, acquires):
        team = await team_with_roles(api)
        path = "/api/teams?include=members"
        acquires.clear()
        got = await team.alice.get(path)
        assert got.status == 200 and len(got.json["data"][0]["members"]) == 3, got.text
        assert sum(task is request_tasks.tasks[path] for task in acquires) == 1

    async def test_a_nested_list_with_its_parent_acquires_once(self, api, request_tasks, acquires):
        team = await team_with_roles(api)
        path = f"{team.url}/members"
        acquires.clear()
        got = await team.carol.get(path)
        assert got.status == 200 and {m["user"]["id"] for m in got.json["data"]} == {"alice", "bob", "carol"}, got.text
        assert sum(task is request_tasks.tasks[path] for task in acquires) == 1


def test_renamed_predicates_share_their_builders_and_keep_each_callers_parameters():
    """An include's rules are renamed per request (their parameters prefixed); the SQL builders are
    made once per builder and prefix, never shared between two builders with the same key."""
    from engine.features.relations.service import prefixed
    from engine.sql.compiled import param
    from engine.sql.ddl import column
    from engine.sql.queries import Predicate

    def own(t):
        return column("user_id", t).eq(param("me"))

    (alice,) = prefixed((Predicate(("k",), own, {"me": "alice"}),), "far_")
    (bob,) = prefixed((Predicate(("k",), own, {"me": "bob"}),), "far_")
    assert alice.build is bob.build
    assert (alice.params, bob.params) == ({"far_me": "alice"}, {"far_me": "bob"})
    assert "far_me" in alice.build("t").sql(dialect="postgres")
    (other,) = prefixed((Predicate(("k",), lambda t: column("owner", t).eq(param("me")), {"me": "x"}),), "far_")
    assert "owner" in other.build("t").sql(dialect="postgres")  # same key, its own SQL


async def test_callers_whose_rules_have_the_same_shapes_share_a_links_plan_and_get_their_own_answers(api):
    team = await team_with_roles(api)
    await share_agent(team.alice, team.id, await create_agent(team.alice, "Shared", system_prompt="secret"))
    kept = api.app[RELATIONS].links_plans
    path = f"{team.url}?include=members,agents"

    first = await team.carol.get(path)
    planned = len(kept)
    again = await team.carol.get(path)
    bobs = await team.bob.get(path)  # another caller, the same rules: only the values bound differ

    assert again.json == first.json
    assert len(kept) == planned, "nothing is planned per caller: carol again and bob use the same plans"
    assert "system_prompt" not in again.json["data"]["agents"][0]["agent"]  # carol is a member: no prompt
    assert bobs.json["data"]["agents"][0]["agent"]["system_prompt"] == "secret"  # bob is the team's admin
