"""Every hop of a path rule is an index lookup, on tables large enough for the planner to care.

A team member lists agents (`agents.access.read`: owner, or team_agents.agent_id -> teams ->
members): the plan PostgreSQL makes for the statement the request ran must reach team_agents,
team_members through indexes only (teams is passed through), never a sequential scan, and agents
itself too, although the rule is `owner OR shared`. `resource-engine explain` shows the statement.
"""

from __future__ import annotations

import argparse
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from plans_support import executed_plan, generic_plan
from statements_support import logged_with_args
from test_query_plans import list_statement

from engine.cli import explain
from engine.cli.main import main
from engine.db.pool import connect

USERS, AGENTS_PER_USER, TEAMS, MEMBERS, SHARED = 2000, 10, 1000, 5, 5
HOPS = ("team_agents", "team_members")  # teams is passed through: team_agents.team_id is its key


@pytest.fixture
def engine_env(engine_env):
    """One pooled connection, so a query logger on it sees the statement the request runs."""
    return {**engine_env, "ENGINE_POOL_MIN_SIZE": "1", "ENGINE_POOL_SIZE": "1"}


async def seed(api) -> None:
    """2,000 users with 10 agents each; 1,000 teams of 5 members sharing 5 agents; analyzed."""
    rng, now = random.Random(5), datetime.now(UTC)
    users = [(f"u{i:04d}", f"u{i:04d}@example.test", now, now) for i in range(USERS)]
    agents = [(uuid.uuid4(), f"u{i:04d}", f"agent {j}", now, now) for i in range(USERS) for j in range(AGENTS_PER_USER)]
    teams, members, shared = [], [], []
    for t in range(TEAMS):
        team = uuid.uuid4()
        crew = rng.sample(range(USERS), MEMBERS)
        teams.append((team, f"u{crew[0]:04d}", f"team {t}", now, now))
        members += [
            (uuid.uuid4(), team, f"u{u:04d}", "owner" if i == 0 else "member", now, now) for i, u in enumerate(crew)
        ]
        shared += [(uuid.uuid4(), team, agent[0], now, now) for agent in rng.sample(agents, SHARED)]
    conn = await asyncpg.connect(api.database_url, server_settings={"search_path": api.schema})
    try:
        await conn.copy_records_to_table("users", records=users, columns=["id", "email", "created_at", "updated_at"])
        await conn.copy_records_to_table(
            "agents", records=agents, columns=["id", "user_id", "name", "created_at", "updated_at"]
        )
        await conn.copy_records_to_table(
            "teams", records=teams, columns=["id", "owner_id", "name", "created_at", "updated_at"]
        )
        columns = ["id", "team_id", "user_id", "role", "created_at", "updated_at"]
        await conn.copy_records_to_table("team_members", records=members, columns=columns)
        columns = ["id", "team_id", "agent_id", "created_at", "updated_at"]
        await conn.copy_records_to_table("team_agents", records=shared, columns=columns)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def scans(plan: dict) -> dict[str, set[str]]:
    """Relation name -> the node types that read it."""
    found: dict[str, set[str]] = {}
    stack = [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        if "Relation Name" in node:
            found.setdefault(node["Relation Name"], set()).add(node["Node Type"])
        stack.extend(node.get("Plans", []))
    return found


async def test_every_hop_of_the_shared_agents_rule_uses_an_index(api):
    await seed(api)
    (member,) = await api.sql("select user_id from team_members where role = 'member' limit 1")
    client = api.with_token(api.token(member["user_id"]))
    sql, args, _ = await list_statement(api, client, "/api/agents?sort=-created_at&limit=20")
    assert "EXISTS" in sql and member["user_id"] in args
    found = scans([{"Plan": await generic_plan(api, sql)}])
    for table in (*HOPS, "agents"):  # agents too: reached through its indexes, not scanned for the OR
        assert table in found, found
        assert found[table] <= {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}, (table, found)


def nodes(plan: dict) -> list[dict]:
    """A plan node and every node under it."""
    found, stack = [], [plan]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.get("Plans", []))
    return found


def own_nodes(plan: dict) -> list[dict]:
    """A plan node and the nodes under it that are not inside an InitPlan of their own."""
    found, stack = [], [plan]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(n for n in node.get("Plans", []) if n.get("Parent Relationship") != "InitPlan")
    return found


def whole_sets(plan: dict) -> list[dict]:
    """The InitPlans that compute a path rule's set of everything the caller reaches (all their
    co-members, all agents shared with their teams): those reading the path's first hop, which
    engine.features.access.rules aliases `_<rule>_s0`, themselves (an include's whole statement,
    an InitPlan when several share one statement, only holds them)."""
    return [
        node
        for node in nodes(plan)
        if node.get("Parent Relationship") == "InitPlan"
        and any(inner.get("Alias", "").endswith("_s0") for inner in own_nodes(node))
    ]


async def team_read_by(api, role: str, include: str) -> tuple[Any, str, list[tuple[str, dict]]]:
    """A `role` member's client, `GET /api/teams/{their team}?include=...` and the executed plans of
    the links statements that read ran (seeded data)."""
    await seed(api)
    (member,) = await api.sql("select team_id, user_id from team_members where role = $1 limit 1", role)
    client = api.with_token(api.token(member["user_id"]))
    path = f"/api/teams/{member['team_id']}?include={include}"
    statements = [(q, a) for q, a in await logged_with_args(api, lambda: client.get(path)) if "_links" in q]
    return client, path, [(sql, await executed_plan(api, sql, args)) for sql, args in statements]


async def test_embedding_a_teams_links_asks_the_link_before_the_callers_whole_set(api):
    """A member's `?include=members,agents`: the far rows' rules ("a co-member", "shared with a team
    of mine", and the system prompt's "... as its owner or admin") hold through the link's own team,
    so the caller's set of every co-member and every shared agent (an InitPlan) is never computed."""
    client, path, plans = await team_read_by(api, "owner", "members,agents")
    ((sql, plan),) = plans  # both includes in one statement
    computed = [node["Actual Loops"] for node in whole_sets(plan)]
    assert len(computed) >= 2 and not any(computed), (sql, plan)
    body = (await client.get(path)).json["data"]
    assert len(body["members"]) == MEMBERS and all(link["user"] is not None for link in body["members"])
    assert len(body["agents"]) == SHARED
    assert all(link["agent"] is not None and "system_prompt" in link["agent"] for link in body["agents"])


async def test_explain_prints_the_statement_with_its_access_predicates(engine_spec):
    args = argparse.Namespace(resource="agents", action="list", user="carol", role=[], id=None, plan=False)
    _, values, lines = await explain.explained(engine_spec, args)
    assert '"agents"."id" = ANY(ARRAY(SELECT "_r1_s0"."agent_id" FROM "team_agents"' in lines[0]
    assert 'EXISTS(SELECT 1 FROM "team_members"' in lines[0] and "CASE WHEN" in lines[0]
    assert "$1 = 'carol'  -- ra_user" in lines
    assert values["ra_user"] == "carol"


async def test_explain_of_a_write_shows_the_locking_read_with_the_write_rule(engine_spec):
    args = argparse.Namespace(resource="teams", action="delete", user="bob", role=[], id=None, plan=False)
    _, _, lines = await explain.explained(engine_spec, args)
    assert lines[0].endswith("FOR UPDATE") and "team_members" not in lines[0]  # delete: [owner]
    assert "-- rows: the owner" in lines


async def test_explain_plan_shows_postgresqls_generic_plan(api, engine_spec):
    args = argparse.Namespace(resource="agents", action="read", user="carol", role=[], id=None, plan=True)
    compiled, values, _ = await explain.explained(engine_spec, args)
    conn = await connect(api.database_url, schema=api.schema)
    try:
        lines = await explain.plan(conn, compiled, values)
    finally:
        await conn.close()
    assert any("Index Scan using agents_pkey" in line for line in lines), lines  # planned for any id


def test_explain_command_prints_the_sql_and_refuses_bad_input(engine_spec_path, capsys):
    assert main(["--spec", engine_spec_path, "explain", "agents", "list", "--as", "carol"]) == 0
    assert "$1 = 'carol'  -- ra_user" in capsys.readouterr().out
    assert main(["--spec", engine_spec_path, "explain", "agents", "read", "--as", "carol", "--id", "nope"]) == 2
    assert main(["--spec", engine_spec_path, "explain", "robots", "list", "--as", "carol"]) == 2


async def test_a_whole_set_the_link_does_not_settle_is_computed_once_per_statement(api):
    """A plain member's `?include=agents`: the system prompt's rule (the team's owners and admins)
    does not hold through this team, so the set of agents their other teams let them read in full is
    computed, once for the statement and not once per link (an InitPlan is not re-run per far row)."""
    client, path, plans = await team_read_by(api, "member", "agents")
    assert len(plans) == 1, plans
    computed = [node["Actual Loops"] for node in whole_sets(plans[0][1])]
    assert sorted(computed) == [0, 1], computed  # the read rule settled by the link; the prompt rule's set once
    links = (await client.get(path)).json["data"]["agents"]
    assert len(links) == SHARED and all(link["agent"] is not None for link in links)
