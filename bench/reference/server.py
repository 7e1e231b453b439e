"""The hand-written reference: aiohttp + asyncpg + orjson + pyjwt + jsonschema, nothing else.

Same routes, same JSON shapes and the same checks as the engine serving the example app:
JWT verification (HS256, exp and sub required), the example's read rules in SQL (your agents and
those shared with a team you are an active member of; system_prompt for the owner and the team's
owners and admins; soft-deleted rows gone; secrets by entry name), JSON Schema validation on
writes (validated on the merged row for PATCH), the agent status rules, 404 for another user's
row; a team read (W5) embeds its active members and shared agents, each link with its users or agents
row under that resource's read and field rules, as the engine's `include` does. It is what a careful
team would write by hand for these endpoints: PATCH is one statement, with the ownership check and
the status rule in its WHERE clause (`--locking-update` serves the earlier reference's lock-then-update
PATCH, for comparison with older figures).

    python bench/reference/server.py --port 8001   (DATABASE_URL and ENGINE_JWT_SECRET from env)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import uuid

import asyncpg
import jwt
import orjson
from aiohttp import web
from jsonschema import Draft202012Validator

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = json.load(open(os.path.join(HERE, "..", "..", "schemas", "agent.json"), encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
SECRET = os.environ["ENGINE_JWT_SECRET"].encode()
COLUMNS = "id, user_id, name, system_prompt, status, parameters, tools, created_at, updated_at"
MOVES = {
    "draft": {"active", "archived"},
    "active": {"paused", "archived"},
    "paused": {"active", "archived"},
    "archived": set(),
}
POOL = web.AppKey("pool", asyncpg.Pool)

# The example app's read contract for agents, as a careful team writes it by hand: the caller's own
# agents and those shared with a (not deleted) team they are an active member of; system_prompt only for
# the owner and for owners/admins of such a team; soft-deleted agents gone; secrets by entry name only.
SHARED_WITH = (  # the agents shared with $1: evaluated once per statement
    "SELECT s.agent_id FROM team_members m JOIN team_agents s ON s.team_id = m.team_id"
    " JOIN teams t ON t.id = m.team_id WHERE m.user_id = $1 AND m.status = 'active' AND t.deleted_at IS NULL"
)
PROMPT_OK = (  # may $1 read a.system_prompt
    "(a.user_id = $1 OR EXISTS (SELECT 1 FROM team_agents s JOIN team_members m ON m.team_id = s.team_id"
    " JOIN teams t ON t.id = s.team_id WHERE s.agent_id = a.id AND m.user_id = $1 AND m.status = 'active'"
    " AND m.role IN ('owner', 'admin') AND t.deleted_at IS NULL))"
)
READ_COLUMNS = (
    "a.id, a.user_id, a.name, CASE WHEN p.ok THEN a.system_prompt END AS system_prompt, p.ok AS _prompt,"
    " a.status, a.parameters, a.tools, a.secrets, a.created_at, a.updated_at, a.deleted_at"
)
READABLE = f"a.deleted_at IS NULL AND (a.user_id = $1 OR a.id = ANY(ARRAY({SHARED_WITH})))"
FROM_AGENTS = f"FROM agents a CROSS JOIN LATERAL (SELECT {PROMPT_OK} AS ok) p"
GET_ONE = f"SELECT {READ_COLUMNS} {FROM_AGENTS} WHERE a.id = $2 AND {READABLE}"
LIST = (
    f"SELECT {READ_COLUMNS} {FROM_AGENTS} WHERE a.status = $2 AND {READABLE}"
    " ORDER BY a.created_at DESC, a.id DESC LIMIT $3"
)
# Writes keep the example's contract too: each writes its event to an outbox and its version to
# agents_history in the same statement, as the engine does. The outbox has the engine's shape and
# indexes but is a table of its own: the engine delivers (and logs) only the events it wrote.
OUTBOX = "ref_events"
WRITTEN = f"{COLUMNS}, secrets, deleted_at"
INSERT = f"""
WITH written AS (
  INSERT INTO agents (user_id, name, system_prompt, status, parameters, tools)
  VALUES ($1, $2, $3, $4, $5, $6) RETURNING {WRITTEN}),
event AS (
  INSERT INTO {OUTBOX} (resource, action, record_id, actor, data)
  SELECT 'agents', 'created', w.id::text, $1, to_jsonb(w) - 'system_prompt' - 'secrets' FROM written w),
version AS (
  INSERT INTO agents_history (record_id, version, action, actor, data)
  SELECT w.id, 1, 'created', $1, to_jsonb(w) - 'secrets' FROM written w)
SELECT *, true AS _prompt FROM written
"""
LOCK = f"SELECT {COLUMNS} FROM agents WHERE id = $1 AND user_id = $2 FOR UPDATE"
UPDATE = (
    f"UPDATE agents SET name = $3, status = $4, updated_at = now() WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
)
# One statement for the whole PATCH: the ownership check in the WHERE clause, each field set only when
# the patch carries it ($3 is the patch as jsonb), and the status rule as a condition on the stored row.
MOVE_PAIRS = ", ".join(f"('{a}', '{b}')" for a, targets in MOVES.items() for b in sorted(targets))
PATCH_ONE = f"""
WITH old AS (
  SELECT {WRITTEN} FROM agents WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL FOR UPDATE),
written AS (
  UPDATE agents a SET
    name = CASE WHEN $3::jsonb ? 'name' THEN $3->>'name' ELSE a.name END,
    system_prompt = CASE WHEN $3::jsonb ? 'system_prompt' THEN $3->>'system_prompt' ELSE a.system_prompt END,
    status = CASE WHEN $3::jsonb ? 'status' THEN $3->>'status' ELSE a.status END,
    parameters = CASE WHEN $3::jsonb ? 'parameters' THEN $3->'parameters' ELSE a.parameters END,
    tools = CASE WHEN $3::jsonb ? 'tools' THEN $3->'tools' ELSE a.tools END,
    updated_at = now()
  FROM old
  WHERE a.id = old.id
    AND (NOT $3::jsonb ? 'status' OR $3->>'status' = old.status OR (old.status, $3->>'status') IN ({MOVE_PAIRS}))
  RETURNING {", ".join(f"a.{c}" for c in WRITTEN.split(", "))}),
event AS (
  INSERT INTO {OUTBOX} (resource, action, record_id, actor, data, changes)
  SELECT 'agents', 'updated', w.id::text, $2, to_jsonb(w) - 'system_prompt' - 'secrets',
    (SELECT jsonb_object_agg(n.key, jsonb_build_object('before', o.value, 'after', n.value))
       FROM jsonb_each(to_jsonb(w)) n JOIN jsonb_each(to_jsonb(old)) o USING (key)
      WHERE n.value IS DISTINCT FROM o.value AND n.key NOT IN ('updated_at', 'system_prompt', 'secrets'))
  FROM written w, old),
version AS (
  INSERT INTO agents_history (record_id, version, action, actor, data)
  SELECT w.id, COALESCE((SELECT max(h.version) FROM agents_history h WHERE h.record_id = w.id), 0) + 1,
    'updated', $2, to_jsonb(w) - 'secrets'
  FROM written w)
SELECT *, true AS _prompt FROM written
"""
EXISTS = "SELECT status FROM agents WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL"
PATCH_VALIDATOR = Draft202012Validator(
    {**SCHEMA, "required": []}, format_checker=Draft202012Validator.FORMAT_CHECKER
)  # every constraint of agent.json is per field: a valid patch on a valid row gives a valid row
# W6: the caller's agents and those shared with a team they are an active member of; system_prompt only
# for the owner and for owners/admins of such a team; secrets by entry name only. By hand, the way a
# careful team writes it: the caller's shared set once from team_members -> team_agents, then the rows
# by primary key, in primary-key order (the engine's default).
SHARED_AGENTS = f"SELECT {READ_COLUMNS} {FROM_AGENTS} WHERE {READABLE} ORDER BY a.id LIMIT $2"

# W5: GET /api/teams/{id}?include=members,agents, by hand for the engine's contract. The team if the caller
# may read it (its owner, or an active member: a pending invitation grants nothing; a soft-deleted team is
# gone), then its active memberships, each with the member's users row, and its shared agents, each with
# the agents row; links in creation order, a far row null when the caller may not read it under its own
# resource's rules. Three statements on one connection ($1 the team, $2 the caller). The caller's role in
# the team, from the first, picks the text of the other two: most callers are active members, for whom
# the far rows' rules mostly hold already, and a text per case keeps each plan simple and cached (one
# text with the role as a parameter is planned anew on every execution under PostgreSQL's default
# plan_cache_mode: 385 and 517 us instead of 160 and 239 us per statement, measured on the bench's data).
TEAM_COLUMNS = "t.id, t.owner_id, t.name, t.description, t.status, t.created_at, t.updated_at, t.deleted_at"
TEAM = (  # with the caller's role in it: NULL for the owner without an active membership
    f"SELECT {TEAM_COLUMNS}, m.role FROM teams t"
    " LEFT JOIN team_members m ON m.team_id = t.id AND m.user_id = $2 AND m.status = 'active'"
    " WHERE t.id = $1 AND t.deleted_at IS NULL AND (t.owner_id = $2 OR m.id IS NOT NULL)"
)
TEAM_AS_ADMIN = f"SELECT {TEAM_COLUMNS}, NULL AS role FROM teams t WHERE t.id = $1 AND t.deleted_at IS NULL"
MEMBER_LINKS = """
SELECT l.id, l.team_id, l.user_id, l.role, l.status, l.created_at, l.updated_at,
  u.id AS u_id, {email} AS email, u.name, {google_id} AS google_id, {tutorial_completed} AS tutorial_completed,
  {tutorial_progress} AS tutorial_progress, {created_at} AS u_created, {updated_at} AS u_updated
FROM team_members l
LEFT JOIN users u ON u.id = l.user_id{readable}
WHERE l.team_id = $1 AND l.status = 'active'  -- pending invitations stay out, for everyone
ORDER BY l.created_at, l.id
"""
# A users row: the caller's own, or a co-member's (both active members of a team not deleted), who reads
# id and name only. An active member of this team is a co-member of all its active members; the owner
# without an active membership may still be one through another team.
CO_MEMBER = (
    "EXISTS (SELECT 1 FROM team_members theirs"
    " JOIN team_members mine ON mine.team_id = theirs.team_id AND mine.user_id = $2 AND mine.status = 'active'"
    " JOIN teams ct ON ct.id = theirs.team_id AND ct.deleted_at IS NULL"
    " WHERE theirs.user_id = u.id AND theirs.status = 'active')"
)
USER_OWN_FIELDS = ("email", "google_id", "tutorial_completed", "tutorial_progress", "created_at", "updated_at")
OWN_ONLY = {name: f"CASE WHEN u.id = $2 THEN u.{name} END" for name in USER_OWN_FIELDS}
MEMBERS_FOR_MEMBER = MEMBER_LINKS.format(readable="", **OWN_ONLY)
MEMBERS_FOR_OWNER = MEMBER_LINKS.format(readable=f" AND (u.id = $2 OR {CO_MEMBER})", **OWN_ONLY)
MEMBERS_AS_ADMIN = MEMBER_LINKS.format(readable="", **{name: f"u.{name}" for name in USER_OWN_FIELDS})
AGENT_LINKS = """
SELECT s.id, s.team_id, s.agent_id, s.created_at, s.updated_at, a.id AS a_id, a.user_id, a.name,
  CASE WHEN p.ok THEN a.system_prompt END AS system_prompt, p.ok, a.status, a.parameters, a.tools, a.secrets,
  a.created_at AS a_created, a.updated_at AS a_updated, a.deleted_at
FROM team_agents s
LEFT JOIN agents a ON a.id = s.agent_id AND a.deleted_at IS NULL{readable}
LEFT JOIN LATERAL (SELECT {prompt} AS ok) p ON a.id IS NOT NULL
WHERE s.team_id = $1
ORDER BY s.created_at, s.id
"""
# An agents row: not soft-deleted, and the caller's own or shared with a team (not deleted) they are an
# active member of: for an active member of this team, every agent it shares. system_prompt: for its owner
# and the owners and admins of such a team: for this team's owners and admins, every one; for the others,
# their own and those another team of theirs shares with them as owner or admin.
SHARED_WITH_CALLER = (
    "EXISTS (SELECT 1 FROM team_agents o JOIN team_members m ON m.team_id = o.team_id AND m.user_id = $2"
    " AND m.status = 'active'{role} JOIN teams ot ON ot.id = o.team_id AND ot.deleted_at IS NULL"
    " WHERE o.agent_id = a.id)"
)
PROMPT_FOR = "a.user_id = $2 OR " + SHARED_WITH_CALLER.format(role=" AND m.role IN ('owner', 'admin')")
AGENTS_FOR_MANAGER = AGENT_LINKS.format(readable="", prompt="true")  # this team's owners and admins; admins
AGENTS_FOR_MEMBER = AGENT_LINKS.format(readable="", prompt=PROMPT_FOR)
AGENTS_FOR_OWNER = AGENT_LINKS.format(
    readable=f" AND (a.user_id = $2 OR {SHARED_WITH_CALLER.format(role='')})", prompt=PROMPT_FOR
)
MEMBER_LINK = ("id", "team_id", "user_id", "role", "status", "created_at", "updated_at")
USER = ("id", "email", "name", *USER_OWN_FIELDS[1:])  # the users columns in order
AGENT_LINK = ("id", "team_id", "agent_id", "created_at", "updated_at")
AGENT = ("id", "user_id", "name", "system_prompt", "_prompt", "status", "parameters", "tools", "secrets")
AGENT += ("created_at", "updated_at", "deleted_at")


def problem(status: int, title: str, detail: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "request_id": uuid.uuid4().hex}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/problem+json")


def claims_of(request: web.Request) -> dict | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        claims = jwt.decode(header[7:], SECRET, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.InvalidTokenError:
        return None
    return claims if isinstance(claims.get("sub"), str) else None


def user_of(request: web.Request) -> str | None:
    claims = claims_of(request)
    return None if claims is None else claims["sub"]


def ok(data, status: int = 200, headers=None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def shown(record: asyncpg.Record | dict) -> dict:
    """A read row as the caller may see it: no system_prompt unless allowed, secrets by entry name."""
    row = dict(record)
    if not row.pop("_prompt"):
        del row["system_prompt"]
    if row["secrets"] is not None:
        row["secrets"] = {name: "set" for name in row["secrets"]}
    return row


def unauthorized() -> web.Response:
    return problem(401, "Unauthorized", "sign in")


def valid_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def errors_of(document, validator: Draft202012Validator = VALIDATOR) -> list[dict]:
    return [
        {"path": "/" + "/".join(map(str, e.absolute_path)), "message": e.message}
        for e in validator.iter_errors(document)
    ]


async def patch_of(request: web.Request):
    """(user, agent id, patch), or the 401/400 answer."""
    user = user_of(request)
    if user is None:
        return unauthorized()
    try:
        return user, request.match_info["id"], orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return problem(400, "Bad Request", "malformed JSON")


async def get_agent(request: web.Request) -> web.Response:
    user = user_of(request)
    if user is None:
        return unauthorized()
    agent_id = request.match_info["id"]
    row = await request.app[POOL].fetchrow(GET_ONE, user, agent_id) if valid_uuid(agent_id) else None
    if row is None:
        return problem(404, "Not Found", "no such agent")
    return ok({"data": shown(row)})


async def list_agents(request: web.Request) -> web.Response:
    user = user_of(request)
    if user is None:
        return unauthorized()
    limit = int(request.query.get("limit", "20"))
    if "status" not in request.query:
        return await list_shared_agents(request, user, limit)
    status = request.query.get("status", "active")
    rows = await request.app[POOL].fetch(LIST, user, status, limit + 1)
    data = [shown(r) for r in rows[:limit]]
    cursor = None
    if len(rows) > limit:
        last = data[-1]
        cursor = (
            base64.urlsafe_b64encode(orjson.dumps(["-created_at,-id", [last["created_at"].isoformat(), last["id"]]]))
            .decode()
            .rstrip("=")
        )
    return ok({"data": data, "meta": {"limit": limit, "next_cursor": cursor}})


async def list_shared_agents(request: web.Request, user: str, limit: int) -> web.Response:
    """W6: GET /api/agents?limit=20 for a team member."""
    rows = await request.app[POOL].fetch(SHARED_AGENTS, user, limit + 1)
    data = [shown(record) for record in rows[:limit]]
    cursor = None
    if len(rows) > limit:
        cursor = base64.urlsafe_b64encode(orjson.dumps(["id", [data[-1]["id"]]])).decode().rstrip("=")
    return ok({"data": data, "meta": {"limit": limit, "next_cursor": cursor}})


async def create_agent(request: web.Request) -> web.Response:
    user = user_of(request)
    if user is None:
        return unauthorized()
    if request.content_type != "application/json":
        return problem(415, "Unsupported Media Type", "send application/json")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return problem(400, "Bad Request", "malformed JSON")
    if not isinstance(body, dict) or "user_id" in body or "id" in body:
        return problem(422, "Unprocessable Content", "read-only field")
    body["user_id"] = user
    errors = errors_of(body)
    if errors:
        return problem(422, "Unprocessable Content", orjson.dumps(errors).decode())
    row = await request.app[POOL].fetchrow(
        INSERT,
        user,
        body["name"],
        body.get("system_prompt"),
        body.get("status", "draft"),
        body.get("parameters", {}),
        body.get("tools", []),
    )
    data = shown(row)
    return ok({"data": data}, 201, {"Location": f"/api/agents/{data['id']}"})


async def update_agent(request: web.Request) -> web.Response:
    """PATCH in one statement (the default): what a competent hand-written server does."""
    read = await patch_of(request)
    if isinstance(read, web.Response):
        return read
    user, agent_id, patch = read
    if not isinstance(patch, dict) or "id" in patch or "user_id" in patch:
        return problem(422, "Unprocessable Content", "read-only field")
    if not valid_uuid(agent_id):
        return problem(404, "Not Found", "no such agent")
    errors = errors_of(patch, PATCH_VALIDATOR)
    if errors:
        return problem(422, "Unprocessable Content", orjson.dumps(errors).decode())
    pool = request.app[POOL]
    for attempt in range(3):  # two PATCHes of one agent at once: the later one numbers its version again
        try:
            row = await pool.fetchrow(PATCH_ONE, agent_id, user, patch)  # the jsonb codec encodes it
            break
        except asyncpg.UniqueViolationError:
            if attempt == 2:
                raise
    if row is None:  # only on failure: tell a missing row from a refused status move
        found = await pool.fetchrow(EXISTS, agent_id, user)
        if found is None:
            return problem(404, "Not Found", "no such agent")
        return problem(409, "Conflict", "status move not allowed")
    return ok({"data": shown(row)})


async def update_agent_locking(request: web.Request) -> web.Response:
    """The earlier reference's PATCH (lock, validate the merged row, update): `--locking-update`."""
    read = await patch_of(request)
    if isinstance(read, web.Response):
        return read
    user, agent_id, patch = read
    if not valid_uuid(agent_id):
        return problem(404, "Not Found", "no such agent")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        current = await conn.fetchrow(LOCK, agent_id, user)
        if current is None:
            return problem(404, "Not Found", "no such agent")
        stored = {k: v for k, v in dict(current).items() if v is not None and k in SCHEMA["properties"]}
        stored["id"] = str(stored["id"])
        merged = {**stored, **patch}
        errors = errors_of(merged)
        if errors:
            return problem(422, "Unprocessable Content", orjson.dumps(errors).decode())
        status = patch.get("status", current["status"])
        if status != current["status"] and status not in MOVES[current["status"]]:
            return problem(409, "Conflict", "status move not allowed")
        row = await conn.fetchrow(UPDATE, agent_id, user, merged["name"], status)
    return ok({"data": dict(row)})


async def get_team(request: web.Request) -> web.Response:
    """W5: the team with its active members (and their users rows) and shared agents (and their agents rows)."""
    claims = claims_of(request)
    if claims is None:
        return unauthorized()
    user, team_id = claims["sub"], request.match_info["id"]
    if not valid_uuid(team_id):
        return problem(404, "Not Found", "no such team")
    admin = "admin" in (claims.get("roles") or ())
    async with request.app[POOL].acquire() as conn:
        team = await (conn.fetchrow(TEAM_AS_ADMIN, team_id) if admin else conn.fetchrow(TEAM, team_id, user))
        if team is None:
            return problem(404, "Not Found", "no such team")
        data = dict(team)
        role = data.pop("role")  # the caller's in this team: None for an admin or the owner without one
        if admin:
            members = await conn.fetch(MEMBERS_AS_ADMIN, team_id)
        else:
            members = await conn.fetch(MEMBERS_FOR_OWNER if role is None else MEMBERS_FOR_MEMBER, team_id, user)
        if admin or role in ("owner", "admin"):
            agents = await conn.fetch(AGENTS_FOR_MANAGER, team_id)
        else:
            agents = await conn.fetch(AGENTS_FOR_OWNER if role is None else AGENTS_FOR_MEMBER, team_id, user)
    data["members"] = [member_link(record, user, admin) for record in members]
    data["agents"] = [agent_link(record) for record in agents]
    return ok({"data": data})


def member_link(record: asyncpg.Record, user: str, admin: bool) -> dict:
    """A membership with its users row: all of it for that user themself (and admins), else id and name."""
    values = tuple(record)
    link = dict(zip(MEMBER_LINK, values[: len(MEMBER_LINK)], strict=True))
    far = values[len(MEMBER_LINK) :]
    if far[0] is None:  # a users row the caller may not read
        link["user"] = None
    elif admin or far[0] == user:
        link["user"] = dict(zip(USER, far, strict=True))
    else:
        link["user"] = {"id": far[0], "name": far[2]}
    return link


def agent_link(record: asyncpg.Record) -> dict:
    """A shared agent's link with its agents row as the caller may see it (null: hidden or soft-deleted)."""
    values = tuple(record)
    link = dict(zip(AGENT_LINK, values[: len(AGENT_LINK)], strict=True))
    far = values[len(AGENT_LINK) :]
    link["agent"] = None if far[0] is None else shown(dict(zip(AGENT, far, strict=True)))
    return link


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("uuid", schema="pg_catalog", encoder=str, decoder=str, format="text")
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, format="text"
        )


async def database(app: web.Application):
    app[POOL] = await asyncpg.create_pool(
        os.environ["DATABASE_URL"],
        min_size=1,
        max_size=int(os.environ.get("ENGINE_POOL_SIZE", "10")),
        init=init_connection,
    )
    await app[POOL].execute(f"CREATE TABLE IF NOT EXISTS {OUTBOX} (LIKE _engine_events INCLUDING ALL)")
    yield
    await app[POOL].close()


def make_app(locking_update: bool = False) -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(database)
    app.router.add_get("/api/agents/{id}", get_agent)
    app.router.add_get("/api/agents", list_agents)
    app.router.add_post("/api/agents", create_agent)
    app.router.add_patch("/api/agents/{id}", update_agent_locking if locking_update else update_agent)
    app.router.add_get("/api/teams/{id}", get_team)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--locking-update", action="store_true", help="the earlier two-statement PATCH")
    args = parser.parse_args()
    web.run_app(make_app(args.locking_update), host="127.0.0.1", port=args.port, print=None, access_log=None)
