"""Property: every API path answers what the example app's rules (issue 16, item 8) say, for every caller.

Hypothesis draws a world: users, teams (each created by its owner through the API), memberships
(role member or admin, active or pending), agents with a system prompt and a secret, and shares
of agents with teams. Every caller (each user, and an admin) then asks every path: the agent,
user and team lists and reads, `include=agents,members`, the nested routes, the event history,
and writes (PATCH/DELETE of agents and teams, membership changes, removals and invitations).
Each answer is compared with tests/access_model.py, the rules written plainly in Python; one
(caller, request) comparison is one case. No secret value (nor its ciphertext) may appear in any
response body, stored event payload or captured log line.

Reads run first, then the PATCHes that change nothing and the DELETEs that must be refused (each
concurrently across callers), then membership writes one by one, the model following each
successful one, then an owner's deletes. HYPOTHESIS_PROFILE=long multiplies the examples.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from typing import Any

import orjson
import pytest
from access_model import ADMIN, USER_FIELDS, Membership, World
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.db.pool import connect

EXAMPLES = int(os.environ.get("PROOF_EXAMPLES", 56)) if os.environ.get("HYPOTHESIS_PROFILE") != "long" else 400
MIN_CASES = 10_000
# PROOF_NO_SHRINK=1 reports the first failing world as drawn (quicker when surveying many mismatches)
PHASES = [Phase.generate] if os.environ.get("PROOF_NO_SHRINK") else list(Phase)
AGENT_FIELDS = {"id", "user_id", "name", "system_prompt", "status", "parameters", "tools", "secrets"}
AGENT_FIELDS |= {"created_at", "updated_at", "deleted_at"}  # deleted_at: soft_delete
FERNET_PREFIX = b"gAAAAA"
MEMBERSHIP_STATES = [None, ("member", False), ("admin", False), ("member", True), ("admin", True)]
WRITE_KINDS = ["patch", "delete", "invite"]
ROLES = ["member", "admin", "owner"]


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    """Thousands of requests per caller: a rate limit that never says no (it still runs)."""
    return {**engine_env, "ENGINE_RATE_LIMIT": "100000000/second"}


@st.composite
def worlds(draw: Any) -> dict[str, Any]:
    users = draw(st.integers(4, 6))
    teams = draw(st.lists(st.integers(0, users - 1), min_size=2, max_size=4))  # each team's owner
    agents = draw(st.lists(st.integers(0, users - 1), min_size=3, max_size=6))  # each agent's owner
    members = {
        (t, u): state
        for t, owner in enumerate(teams)
        for u in range(users)
        if u != owner and (state := draw(st.sampled_from(MEMBERSHIP_STATES))) is not None
    }
    shares = {(t, a) for t in range(len(teams)) for a in range(len(agents)) if draw(st.booleans())}
    op = st.tuples(
        st.integers(0, users - 1),
        st.integers(0, len(teams) - 1),
        st.integers(-1, users - 1),  # -1: a user id that does not exist
        st.sampled_from(WRITE_KINDS),
        st.sampled_from(ROLES),
    )
    ops = draw(st.lists(op, min_size=6, max_size=12))
    return {"users": users, "teams": teams, "agents": agents, "members": members, "shares": shares, "ops": ops}


class Run:
    """One test's state: the cases compared, the mismatches found, the secrets to look for."""

    def __init__(self, api: Any):
        self.api = api
        self.cases = 0
        self.mismatches: list[str] = []
        self.secrets: set[bytes] = set()
        self.examples = 0
        self.invite_shape: dict[str, list[str]] = {}

    def compare(self, what: str, got: Any, expected: Any) -> None:
        self.cases += 1
        if got != expected:
            self.mismatches.append(f"{what}: got {got!r}, expected {expected!r}")

    def scan(self, what: str, body: bytes) -> None:
        """No secret value, nor a Fernet token, may leave the server."""
        if FERNET_PREFIX in body or any(s in body for s in self.secrets):
            self.mismatches.append(f"{what}: a secret in the body {body[:300]!r}")


async def build(run: Run, drawn: dict[str, Any], conn: Any) -> tuple[World, dict[str, Any], int]:
    api, n = run.api, run.examples
    await conn.execute("DELETE FROM users")  # cascades to every row of the previous world
    since = await conn.fetchval("SELECT coalesce(max(id), 0) FROM _engine_events")
    names = [f"w{n}u{i}" for i in range(drawn["users"])]
    clients = {name: await api.as_user(name, name=f"Name {name}") for name in names}
    clients[ADMIN] = await api.as_admin(ADMIN)
    world = World(names)
    teams = []
    for i, owner in enumerate(drawn["teams"]):
        created = await clients[names[owner]].post("/api/teams", json={"name": f"team {i}"})
        assert created.status == 201, created.text
        teams.append(created.json["data"]["id"])
        world.team_owner[teams[-1]] = names[owner]
    agents = []
    for i, owner in enumerate(drawn["agents"]):
        secret = f"ghp_{secrets.token_hex(12)}"
        run.secrets.add(secret.encode())
        body = {"name": f"agent {i}", "system_prompt": f"prompt {i}", "secrets": {"github": secret}}
        created = await clients[names[owner]].post("/api/agents", json=body)
        assert created.status == 201, created.text
        run.scan("POST /api/agents", created.body)
        agents.append(created.json["data"]["id"])
        world.agent_owner[agents[-1]] = names[owner]
    memberships = drawn["members"].items()
    rows = [(teams[t], names[u], role, "active" if active else "pending") for (t, u), (role, active) in memberships]
    sql = "INSERT INTO team_members (team_id, user_id, role, status) VALUES ($1::uuid, $2, $3, $4)"
    await conn.executemany(sql, rows)
    world.shares = {(teams[t], agents[a]) for t, a in drawn["shares"]}
    sql = "INSERT INTO team_agents (team_id, agent_id) VALUES ($1::uuid, $2::uuid)"
    await conn.executemany(sql, sorted(world.shares))
    for row in await conn.fetch("SELECT team_id::text AS t, user_id, role, status FROM team_members"):
        world.members[(row["t"], row["user_id"])] = Membership(row["role"], row["status"] == "active")
    return world, clients, since


# --- reads -----------------------------------------------------------------------------------------


def agent_shape(row: dict[str, Any] | None) -> Any:
    """What the rules decide about an agent row: hidden (None) or whether system_prompt is in it."""
    if row is None:
        return None
    return ("system_prompt" in row, set(row) - {"system_prompt"} == AGENT_FIELDS - {"system_prompt"})


def expected_agent(world: World, caller: str, agent: str) -> Any:
    return (world.reads_prompt(caller, agent), True) if world.reads_agent(caller, agent) else None


def check_secrets_masked(run: Run, what: str, row: dict[str, Any] | None) -> None:
    if row is not None and "secrets" in row:
        run.compare(f"{what} secrets", row["secrets"], {"github": "set"})


def link_view(world: World, caller: str, team: str, links: list[dict[str, Any]], kind: str) -> dict:
    if kind == "members":
        return {link["user_id"]: (set(link["user"]) if link.get("user") else None) for link in links}
    return {link["agent_id"]: agent_shape(link.get("agent")) for link in links}


def expected_links(world: World, caller: str, team: str, kind: str) -> dict:
    if kind == "members":
        return {user: world.user_fields(caller, user) for user in world.active_members(team)}
    agents = [a for t, a in world.shares if t == team]
    return {agent: expected_agent(world, caller, agent) for agent in agents}


async def get(run: Run, client: Any, path: str) -> Any:
    got = await client.get(path)
    run.scan(f"GET {path}", got.body)
    return got


def rows_of(run: Run, what: str, listed: Any) -> list[dict[str, Any]]:
    """A list's rows; a list that is not a 200 is a mismatch (every caller may list)."""
    if listed.status != 200:
        run.compare(what + " status", listed.status, 200)
        return []
    return listed.json["data"]


async def read_checks(run: Run, world: World, caller: str, client: Any, since: int, stored: list) -> None:
    who = f"{caller} "
    listed = await get(run, client, "/api/agents?limit=100")
    got = {row["id"]: agent_shape(row) for row in rows_of(run, who + "GET /api/agents", listed)}
    want = {a: expected_agent(world, caller, a) for a in world.agent_owner if world.reads_agent(caller, a)}
    run.compare(who + "GET /api/agents", got, want)
    for agent in world.agent_owner:
        read = await get(run, client, f"/api/agents/{agent}")
        row = read.json["data"] if read.status == 200 else None
        run.compare(
            who + f"GET /api/agents/{agent}",
            (read.status, agent_shape(row)),
            (world.read_status(world.reads_agent(caller, agent)), expected_agent(world, caller, agent)),
        )
        check_secrets_masked(run, who + f"GET /api/agents/{agent}", row)
    listed = await get(run, client, "/api/users?limit=100")
    rows = rows_of(run, who + "GET /api/users", listed)
    if caller == ADMIN:  # admins also see the users the fixtures made (admin, test-admin)
        rows = [row for row in rows if row["id"] in world.users]
    got = {row["id"]: set(row) for row in rows}
    want = {u: world.user_fields(caller, u) for u in world.users if world.user_fields(caller, u)}
    run.compare(who + "GET /api/users", got, want)
    for user in world.users:
        read = await get(run, client, f"/api/users/{user}")
        fields = world.user_fields(caller, user)
        got_fields = set(read.json["data"]) if read.status == 200 else None
        run.compare(
            who + f"GET /api/users/{user}", (read.status, got_fields), (world.read_status(bool(fields)), fields)
        )
    await team_reads(run, world, caller, client)
    await event_checks(run, world, caller, client, since, stored)


async def team_reads(run: Run, world: World, caller: str, client: Any) -> None:
    who = f"{caller} "
    listed = await get(run, client, "/api/teams?limit=100")
    run.compare(
        who + "GET /api/teams",
        {row["id"] for row in rows_of(run, who + "GET /api/teams", listed)},
        {t for t in world.team_owner if world.reads_team(caller, t)},
    )
    for team in world.team_owner:
        visible = world.reads_team(caller, team)
        read = await get(run, client, f"/api/teams/{team}?include=agents,members")
        got: Any = read.status
        want: Any = world.read_status(visible)
        if read.status == 200 and visible:
            row = read.json["data"]
            got = {k: link_view(world, caller, team, row[k], k) for k in ("agents", "members")}
            want = {k: expected_links(world, caller, team, k) for k in ("agents", "members")}
        run.compare(who + f"GET /api/teams/{team}?include=agents,members", got, want)
        for kind in ("agents", "members"):
            nested = await get(run, client, f"/api/teams/{team}/{kind}?limit=100")
            got, want = nested.status, world.read_status(visible)
            if nested.status == 200 and visible:
                got = link_view(world, caller, team, nested.json["data"], kind)
                want = expected_links(world, caller, team, kind)
            run.compare(who + f"GET /api/teams/{team}/{kind}", got, want)


def event_visible(world: World, caller: str, event: dict[str, Any]) -> bool:
    """Who sees an event: whoever may read its row now, with every field the payload carries."""
    if caller == ADMIN:
        return True
    resource, record, data = event["resource"], event["record_id"], orjson.loads(event["data"])
    if resource == "agents":
        return (record in world.agent_owner and world.reads_agent(caller, record)) or data["user_id"] == caller
    if resource == "teams":
        return (record in world.team_owner and world.reads_team(caller, record)) or data["owner_id"] == caller
    if resource == "users":
        return world.user_fields(caller, record) == USER_FIELDS
    return False  # team_members, team_agents: admins only


async def event_checks(run: Run, world: World, caller: str, client: Any, since: int, stored: list) -> None:
    seen, path = [], f"/api/events?id[gt]={since}&limit=100"
    while path:
        page = await get(run, client, path)
        seen += [event["id"] for event in rows_of(run, f"{caller} GET /api/events", page)]
        cursor = page.json["meta"].get("next_cursor") if page.status == 200 else None
        path = f"/api/events?id[gt]={since}&limit=100&cursor={cursor}" if cursor else ""
    want = sorted(e["id"] for e in stored if event_visible(world, caller, dict(e)))
    run.compare(f"{caller} GET /api/events", sorted(seen), want)


# --- writes ----------------------------------------------------------------------------------------


async def write(run: Run, client: Any, method: str, path: str, body: Any = None) -> Any:
    done = await client.request(method, path, json=body)
    run.scan(f"{method} {path}", done.body)
    return done


async def row_writes(run: Run, world: World, caller: str, client: Any) -> None:
    """PATCH (no-op) of every agent and team; DELETE where it must be refused."""
    for agent, owner in world.agent_owner.items():
        want = world.write_status(world.reads_agent(caller, agent), world.changes_agent(caller, agent), 200)
        done = await write(run, client, "PATCH", f"/api/agents/{agent}", {"status": "draft"})
        run.compare(f"{caller} PATCH /api/agents/{agent}", done.status, want)
        if caller not in (owner, ADMIN):
            done = await write(run, client, "DELETE", f"/api/agents/{agent}")
            run.compare(f"{caller} DELETE /api/agents/{agent}", done.status, 403 if want == 403 else 404)
    for team, owner in world.team_owner.items():
        visible = world.reads_team(caller, team)
        done = await write(run, client, "PATCH", f"/api/teams/{team}", {"status": "active"})
        run.compare(
            f"{caller} PATCH /api/teams/{team}",
            done.status,
            world.write_status(visible, world.manages_team(caller, team), 200),
        )
        if caller not in (owner, ADMIN):
            done = await write(run, client, "DELETE", f"/api/teams/{team}")
            run.compare(f"{caller} DELETE /api/teams/{team}", done.status, world.write_status(visible, False, 204))


async def member_write(run: Run, world: World, clients: dict, op: tuple, example: int) -> None:
    c, t, u, kind, role = op
    caller, team = world.users[c], list(world.team_owner)[t]
    target = world.users[u] if u >= 0 else f"w{example}ghost"
    if target == world.team_owner[team] == caller and kind != "invite":
        return  # the owner's own membership: the domain rule keeps a last owner (409), not an access rule
    client, url = clients[caller], f"/api/teams/{team}/members"
    if kind == "patch":
        want = world.member_patch(caller, team, target, role)
        done = await write(run, client, "PATCH", f"{url}/{target}", {"role": role})
    elif kind == "delete":
        want = world.member_delete(caller, team, target)
        done = await write(run, client, "DELETE", f"{url}/{target}")
    else:
        want = world.member_invite(caller, team, target, role)
        done = await write(run, client, "POST", url, {"user_id": target, "role": role})
    run.compare(f"{caller} {kind} {target} as {role} in {team}", done.status, want)
    if kind == "invite" and done.status == 202:  # the same answer whether the user exists or not
        shape = sorted(done.json["data"])
        run.compare(f"{caller} invite {target}: body keys", shape, run.invite_shape.setdefault("keys", shape))
    if done.status == want and want in (200, 202, 204):
        world.apply_member_write(kind, team, target, role)


async def final_deletes(run: Run, world: World, clients: dict) -> None:
    """The owners' deletes succeed, and the row is gone for its owner."""
    agent, owner = next(iter(world.agent_owner.items()))
    done = await write(run, clients[owner], "DELETE", f"/api/agents/{agent}")
    run.compare(f"{owner} DELETE /api/agents/{agent}", done.status, 204)
    team, owner = next(iter(world.team_owner.items()))
    done = await write(run, clients[owner], "DELETE", f"/api/teams/{team}")
    run.compare(f"{owner} DELETE /api/teams/{team}", done.status, 204)
    gone = await get(run, clients[owner], f"/api/teams/{team}")
    run.compare(f"{owner} GET deleted /api/teams/{team}", gone.status, 404)


async def together(checks: Any) -> None:
    """Run the checks concurrently, and all to the end before raising (none may outlive its world)."""
    for result in await asyncio.gather(*checks, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result


async def check_world(run: Run, drawn: dict[str, Any]) -> None:
    run.examples += 1
    conn = await connect(run.api.database_url, schema=run.api.schema)
    try:
        world, clients, since = await build(run, drawn, conn)
        sql = "SELECT id, resource, record_id, data::text AS data FROM _engine_events WHERE id > $1"
        stored = [dict(row) for row in await conn.fetch(sql, since)]
    finally:
        await conn.close()
    for event in stored:  # the payloads as stored: no secret either
        run.scan(f"event {event['id']}", event["data"].encode())
    await together(read_checks(run, world, caller, clients[caller], since, stored) for caller in clients)
    await together(row_writes(run, world, caller, clients[caller]) for caller in clients)  # no-ops, refusals
    for op in drawn["ops"]:
        await member_write(run, world, clients, op, run.examples)
    await final_deletes(run, world, clients)


@pytest.mark.timeout(1200)  # ~10,000 requests on a real database: minutes on a loaded machine
async def test_every_path_answers_what_the_rules_say(api, caplog):
    caplog.set_level(logging.INFO)
    run, loop = Run(api), asyncio.get_running_loop()

    @settings(
        max_examples=EXAMPLES, phases=PHASES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(worlds())
    def prop(drawn: dict[str, Any]) -> None:
        before = len(run.mismatches)
        asyncio.run_coroutine_threadsafe(check_world(run, drawn), loop).result(timeout=300)
        found = run.mismatches[before:]
        assert not found, f"{len(found)} mismatches in the world {drawn!r}:\n" + "\n".join(found[:40])

    await loop.run_in_executor(None, prop)
    logged = "\n".join(record.getMessage() for record in caplog.records).encode()
    assert not [s for s in run.secrets if s in logged], "a secret value in a log line"
    print(f"{run.cases} cases over {run.examples} worlds, {len(run.secrets)} secrets looked for")
    if EXAMPLES >= 56:  # the default run: about 12,000 cases; 10,000 at least
        assert run.cases >= MIN_CASES
