"""Property: counts, aggregates and search answer what a plain Python computation over the rows
each caller may read says (tests/access_model.py holds the example app's rules).

Hypothesis draws a world (users, teams, memberships active or pending with their roles, agents with
a status and words in their name and system prompt, shares). Every caller, each user and an admin,
then asks for count=exact (plain, filtered, with a boolean group), group_by=status, group_by=user_id
with min/max of created_at, and search counts for each word; each answer is compared with the
rows `World.reads_agent` lets the caller read (and, for a prompt word, `World.reads_prompt`).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from access_model import ADMIN, Membership, World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.db.pool import connect

EXAMPLES = int(os.environ.get("PROOF_EXAMPLES", 12))
STATUSES = ["draft", "active", "paused", "archived"]
WORDS = ["zebra", "falcon", "quartz", "walrus"]  # their own stems in english
MEMBERSHIP_STATES = [None, ("member", False), ("admin", False), ("member", True), ("admin", True)]


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_RATE_LIMIT": "100000000/second"}


@st.composite
def worlds(draw: Any) -> dict[str, Any]:
    users = draw(st.integers(3, 5))
    teams = draw(st.lists(st.integers(0, users - 1), min_size=1, max_size=3))
    agents = draw(
        st.lists(
            st.tuples(
                st.integers(0, users - 1),
                st.sampled_from(STATUSES),
                st.sampled_from([None, *WORDS]),  # a word in the name
                st.sampled_from([None, *WORDS]),  # a word in the system prompt
            ),
            min_size=2,
            max_size=8,
        )
    )
    members = {
        (t, u): state
        for t, owner in enumerate(teams)
        for u in range(users)
        if u != owner and (state := draw(st.sampled_from(MEMBERSHIP_STATES))) is not None
    }
    shares = draw(st.sets(st.tuples(st.integers(0, len(teams) - 1), st.integers(0, len(agents) - 1))))
    return {"users": users, "teams": teams, "agents": agents, "members": members, "shares": shares}


async def build(api: Any, drawn: dict[str, Any], conn: Any, n: int) -> tuple[World, dict, dict]:
    await conn.execute("DELETE FROM users")  # cascades to every row of the previous world
    names = [f"w{n}u{i}" for i in range(drawn["users"])]
    clients = {name: await api.as_user(name) for name in names}
    clients[ADMIN] = await api.as_admin(ADMIN)
    world = World(names)
    teams = []
    for i, owner in enumerate(drawn["teams"]):
        created = await clients[names[owner]].post("/api/teams", json={"name": f"team {i}"})
        assert created.status == 201, created.text
        teams.append(created.json["data"]["id"])
        world.team_owner[teams[-1]] = names[owner]
    agents: dict[str, dict[str, Any]] = {}
    for i, (owner, status, name_word, prompt_word) in enumerate(drawn["agents"]):
        body = {"name": f"agent {i} {name_word or ''}".strip(), "status": status}
        if prompt_word:
            body["system_prompt"] = f"you help with {prompt_word}"
        created = await clients[names[owner]].post("/api/agents", json=body)
        assert created.status == 201, created.text
        row = created.json["data"]
        agents[row["id"]] = {**row, "name_word": name_word, "prompt_word": prompt_word}
        world.agent_owner[row["id"]] = names[owner]
    ids = list(agents)
    rows = [(teams[t], names[u], role, "active" if a else "pending") for (t, u), (role, a) in drawn["members"].items()]
    await conn.executemany(
        "INSERT INTO team_members (team_id, user_id, role, status) VALUES ($1::uuid, $2, $3, $4)", rows
    )
    world.shares = {(teams[t], ids[a]) for t, a in drawn["shares"]}
    await conn.executemany(
        "INSERT INTO team_agents (team_id, agent_id) VALUES ($1::uuid, $2::uuid)", sorted(world.shares)
    )
    for row in await conn.fetch("SELECT team_id::text AS t, user_id, role, status FROM team_members"):
        world.members[(row["t"], row["user_id"])] = Membership(row["role"], row["status"] == "active")
    return world, clients, agents


async def body(client: Any, path: str) -> dict[str, Any]:
    got = await client.get(path)
    assert got.status == 200, (path, got.text)
    return got.json


def expected_groups(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    counts = Counter(r[key] for r in rows)
    return [{key: value, "count": counts[value]} for value in sorted(counts)]


async def check_caller(world: World, caller: str, client: Any, agents: dict[str, dict[str, Any]]) -> None:
    readable = [a for i, a in agents.items() if world.reads_agent(caller, i)]
    assert (await body(client, "/api/agents?count=exact&limit=1"))["meta"]["total"] == len(readable)
    active = [a for a in readable if a["status"] == "active"]
    assert (await body(client, "/api/agents?status=active&count=exact"))["meta"]["total"] == len(active)
    either = [a for a in readable if a["status"] in ("paused", "draft")]
    got = await body(client, "/api/agents?or=(status=paused,status=draft)&count=exact")
    assert got["meta"]["total"] == len(either)
    assert (await body(client, "/api/agents?group_by=status"))["data"] == expected_groups(readable, "status")
    by_owner = await body(client, "/api/agents?group_by=user_id&aggregate=count,min:created_at,max:created_at")
    expected = []
    for owner in sorted({a["user_id"] for a in readable}):
        own = [a["created_at"] for a in readable if a["user_id"] == owner]
        expected.append((owner, len(own), min(own), max(own)))
    got_rows = [(g["user_id"], g["count"], g["min_created_at"], g["max_created_at"]) for g in by_owner["data"]]
    assert got_rows == expected
    for word in WORDS:
        found = [
            i
            for i, a in agents.items()
            if world.reads_agent(caller, i)
            and (a["name_word"] == word or (a["prompt_word"] == word and world.reads_prompt(caller, i)))
        ]
        got = await body(client, f"/api/agents?q={word}&count=exact&limit=100")
        assert got["meta"]["total"] == len(found), (caller, word)
        assert sorted(r["id"] for r in got["data"]) == sorted(found), (caller, word)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(drawn=worlds())
async def test_counts_aggregates_and_search_match_the_rows_each_caller_may_read(api, drawn):
    conn = await connect(api.database_url, schema=api.schema)
    try:
        n = test_counts_aggregates_and_search_match_the_rows_each_caller_may_read.examples = (
            getattr(test_counts_aggregates_and_search_match_the_rows_each_caller_may_read, "examples", 0) + 1
        )
        world, clients, agents = await build(api, drawn, conn, n)
    finally:
        await conn.close()
    for caller, client in clients.items():
        await check_caller(world, caller, client, agents)
