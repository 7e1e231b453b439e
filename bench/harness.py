"""Benchmark the engine against the hand-written reference, in one run, in alternating rounds.

    bench/run            full mode: writes bench/RESULTS.md
    bench/run --quick    a few seconds per scenario, prints the table only
    bench/run --scale    two engine processes with and without a read replica (bench/scale.py):
                         writes bench/RESULTS-scale.md, marked as such when --quick

It starts its own PostgreSQL (pgserver) in a temporary directory, applies the migrations, seeds
1,000 users and 100,000 agents (for W6 also 10,000 teams shared with 2,000 member-only users; for
W5 a pending invitation and a soft-deleted shared agent in every 4th user's team),
starts both servers (one process each), and drives them with wrk
using the same script, connections and duration. See the README's "Benchmark" section.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import jwt
import orjson

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "bench-secret-bench-secret-bench-secret-0123456789"
FIELD_KEY = "YmVuY2gtZmllbGQta2V5LWJlbmNoLWZpZWxkLWtleTA="  # a Fernet key, for the benchmark only
SCENARIOS = {
    "W1": "GET /api/agents/{id} (owned)",
    "W2": "GET /api/agents?status=active&sort=-created_at&limit=20",
    "W3": "POST /api/agents",
    "W4": "PATCH /api/agents/{id} (status, name)",
    "W5": "GET /api/teams/{id}?include=members,agents",
    "W6": "GET /api/agents?limit=20 (a team member's shared agents)",
    "W7": "POST /api/agents with 1,000 agents (bulk create; rows/s against W3's single POSTs)",
    "W8": "GET /api/agents?count=exact&limit=20 (an admin: every agent counted)",
    "W9": "GET /api/agents?count=estimated&limit=20 (an admin: exact up to 10,000, then the estimate)",
    "W10": "GET /api/agents?q={word}&limit=20 (a user's own and shared agents, by relevance)",
    "W11": "PATCH /api/agents/{id} (status, name), history on vs off",
}
# Scenarios the reference has no equivalent of: the engine alone, with no ratio, or compared with another
# scenario's rows per second in the same run (W7's bulk create against W3's single POSTs; target 10x).
# The reference does not implement bulk writes, counts or search.
ENGINE_ONLY = {  # scenario -> (the scenario it is compared with or None, rows per request)
    "W7": ("W3", 1000),
    "W8": (None, 1),
    "W9": (None, 1),
    "W10": (None, 1),
}
BULK_CONNECTIONS = 4  # a bulk request is 1,000 rows: a few at a time saturate the server
# W10: one of these words is in each agent's name (agent j of every user has word j % 20), none in PROMPT.
SEARCH_WORDS = (
    "invoice travel legal recruiting billing design security finance marketing onboarding compliance "
    "logistics translation scheduling analytics forecasting procurement inventory payroll pricing"
).split()
# Scenarios compared with another server than the reference: W11 measures what `history:` costs a
# PATCH, against the same engine serving a copy of resources.yaml without agents' `history:` key.
BASELINES = {"W11": "no history"}
NO_HISTORY_SPEC = os.path.join(ROOT, ".bench-no-history.yaml")
IDLE_SECONDS = 12  # after the run, before RSS is read again: the engine's trimmer looks every 5 s
TEAMS = 10_000  # W6: teams in all (one per user for W5, the rest shared among member-only users)
# W5: every 4th user's team also has a pending invitation (no member until accepted: left out of the team's
# members) and shares one of its owner's agents that is soft-deleted (embedded as null), as real teams do.
UNTIDY_TEAMS = 4
MEMBER_ONLY_USERS = 2_000  # own no agent: their agent list is what their teams share with them
PROMPT = (
    "You are a meticulous research assistant for a product team. Read the user's question, restate "
    "it in one line, list the facts you need, search the knowledge base with the tools you have, and "
    "answer in at most five sentences with sources. Never invent numbers; say when you are unsure. "
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("installing wrk from Debian's packages")
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


def postmaster_pid(directory: str) -> int | None:
    """The embedded PostgreSQL's postmaster (its backends are its children), from postmaster.pid."""
    try:
        with open(os.path.join(directory, "pgdata", "postmaster.pid"), encoding="ascii") as fh:
            return int(fh.readline())
    except (OSError, ValueError):
        return None


def start_database(directory: str):
    sys.path.insert(0, ROOT)
    from engine.db.embedded import start_embedded

    return start_embedded(os.path.join(directory, "pgdata"))


def stop_database(directory: str) -> None:
    """Before `directory` goes: a server whose directory is gone is never stopped (engine.db.embedded)."""
    from engine.db.embedded import stop_embedded

    stop_embedded(os.path.join(directory, "pgdata"))


async def seed_shared(conn: asyncpg.Connection, users: int, per_user: int, owned: dict, now: datetime) -> list[str]:
    """W6: member-only users, each an active member of teams that share agents; the rest of TEAMS teams,
    each owned by a user (with its owner membership), with 3 member-only members and 5 of its owner's agents."""
    rng = random.Random(11)
    members = [f"member{i:05d}" for i in range(MEMBER_ONLY_USERS)]
    user_rows = [(m, f"{m}@bench.test", f"Member {m}", now, now) for m in members]
    await conn.copy_records_to_table(
        "users", records=user_rows, columns=["id", "email", "name", "created_at", "updated_at"]
    )
    team_rows, member_rows, link_rows = [], [], []
    for _ in range(max(TEAMS - users, 0)):
        team_id, owner = str(uuid.uuid4()), f"user{rng.randrange(users):04d}"
        team_rows.append((team_id, owner, "a shared team", None, "active", now, now))
        member_rows.append((str(uuid.uuid4()), team_id, owner, "owner", now, now))
        for member in rng.sample(members, 3):
            member_rows.append((str(uuid.uuid4()), team_id, member, "member", now, now))
        for agent_id in rng.sample(owned[owner], min(5, len(owned[owner]))):
            link_rows.append((str(uuid.uuid4()), team_id, agent_id, now, now))
    columns = ["id", "owner_id", "name", "description", "status", "created_at", "updated_at"]
    await conn.copy_records_to_table("teams", records=team_rows, columns=columns)
    columns = ["id", "team_id", "user_id", "role", "created_at", "updated_at"]
    await conn.copy_records_to_table("team_members", records=member_rows, columns=columns)
    columns = ["id", "team_id", "agent_id", "created_at", "updated_at"]
    await conn.copy_records_to_table("team_agents", records=link_rows, columns=columns)
    return members


async def seed(url: str, users: int, per_user: int) -> tuple[dict, dict, list[str]]:
    """Load the data set; returns each user's active agents and team, for the request file."""
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        user_rows = [(f"user{i:04d}", f"user{i:04d}@bench.test", f"User {i}", now, now) for i in range(users)]
        await conn.copy_records_to_table(
            "users", records=user_rows, columns=["id", "email", "name", "created_at", "updated_at"]
        )
        statuses = ["draft", "active", "paused", "archived"]
        rng = random.Random(7)
        agent_rows, active, owned, deleted = [], {}, {}, {}
        params = orjson.dumps({"temperature": 0.7, "max_tokens": 1024, "model": "m-large"}).decode()
        tools = orjson.dumps(
            [
                {"name": "search", "description": "search the web", "config": {"k": 5}},
                {"name": "calculator", "description": "exact arithmetic"},
            ]
        ).decode()
        for i in range(users):
            owner = f"user{i:04d}"
            for j in range(per_user):
                agent_id = str(uuid.uuid4())
                status = statuses[rng.randrange(4)] if j > 0 else "active"
                at = now - timedelta(minutes=rng.randrange(500_000))
                name = f"agent {i}-{j} {SEARCH_WORDS[j % len(SEARCH_WORDS)]}"
                gone = None  # W5: an untidy team's owner's first agent not active (never in the request file)
                if i % UNTIDY_TEAMS == 0 and status != "active" and owner not in deleted:
                    gone, deleted[owner] = now, agent_id  # deleted now: not yet due for purging (30 days)
                agent_rows.append((agent_id, owner, name, PROMPT + str(j), status, params, tools, at, at, gone))
                if status == "active":
                    active.setdefault(owner, []).append(agent_id)
                owned.setdefault(owner, []).append(agent_id)
        await conn.execute("SET session_replication_role = replica")  # skip FK checks while copying
        await conn.copy_records_to_table(
            "agents",
            records=agent_rows,
            columns=[
                "id",
                "user_id",
                "name",
                "system_prompt",
                "status",
                "parameters",
                "tools",
                "created_at",
                "updated_at",
                "deleted_at",
            ],
        )
        team_rows, member_rows, link_rows = [], [], []
        for i in range(users):
            team_id, owner = str(uuid.uuid4()), f"user{i:04d}"
            team_rows.append((team_id, owner, f"team {i}", "a bench team", "active", now, now))
            for k in range(5):
                member = f"user{(i + k) % users:04d}"
                role = "owner" if k == 0 else "member"
                member_rows.append((str(uuid.uuid4()), team_id, member, role, "active", now, now))
            if i % UNTIDY_TEAMS == 0 and users > 5:
                member_rows.append(
                    (str(uuid.uuid4()), team_id, f"user{(i + 5) % users:04d}", "member", "pending", now, now)
                )
            for agent_id in [*active[owner][:5], *([deleted[owner]] if owner in deleted else [])]:
                link_rows.append((str(uuid.uuid4()), team_id, agent_id, now, now))
        await conn.copy_records_to_table(
            "teams",
            records=team_rows,
            columns=["id", "owner_id", "name", "description", "status", "created_at", "updated_at"],
        )
        await conn.copy_records_to_table(
            "team_members",
            records=member_rows,
            columns=["id", "team_id", "user_id", "role", "status", "created_at", "updated_at"],
        )
        await conn.copy_records_to_table(
            "team_agents", records=link_rows, columns=["id", "team_id", "agent_id", "created_at", "updated_at"]
        )
        members = await seed_shared(conn, users, per_user, owned, now)
        await conn.execute("SET session_replication_role = origin")
        # The seeded tables vacuumed, analysed and checkpointed now: otherwise autovacuum (100,000
        # inserted rows) and the first reads' hint-bit writes land in the first scenario's first round,
        # on one server only. The tables left empty stay unanalysed, as in a new deployment.
        for name in ("users", "agents", "teams", "team_members", "team_agents"):
            await conn.execute(f"VACUUM (ANALYZE) {name}")
        await conn.execute("CHECKPOINT")
        return active, {row[1]: row[0] for row in team_rows}, members
    finally:
        await conn.close()


def write_requests(data_file: str, active: dict, teams: dict, members: list[str]) -> None:
    """One line per (token, owned active agent, team, a member-only user's token, an admin's token,
    a search word) for wrk to pick from."""
    exp = int(time.time()) + 7 * 86400

    def token(sub: str, roles: tuple[str, ...] = ()) -> str:
        claims = {"sub": sub, "exp": exp, "iat": int(time.time()), **({"roles": list(roles)} if roles else {})}
        return jwt.encode(claims, SECRET, algorithm="HS256")

    admin = token("user0000", ("admin",))
    line = 0
    with open(data_file, "w", encoding="utf-8") as fh:
        for owner, agent_ids in active.items():
            for agent_id in agent_ids[:3]:
                word = SEARCH_WORDS[line % len(SEARCH_WORDS)]
                member = token(members[line % len(members)])
                fh.write(f"{token(owner)} {agent_id} {teams[owner]} {member} {admin} {word}\n")
                line += 1


def server_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "ENGINE_JWT_SECRET": SECRET,
            "ENGINE_SESSION_SECRET": SECRET + "-sessions",
            "ENGINE_FIELD_KEYS": FIELD_KEY,  # agents.secrets is writeOnly: production needs a key
            "ENGINE_ENV": "production",
            "ENGINE_JWT_ISSUER": "off",  # the bench's tokens carry no iss/aud (logged at start-up)
            "ENGINE_JWT_AUDIENCE": "off",
            "ENGINE_RATE_LIMIT": "100000000/second",  # the limiter runs, it just never says no
            "ENGINE_POOL_SIZE": os.environ.get("BENCH_POOL_SIZE", "10"),
            "ENGINE_LOG_LEVEL": "INFO",
            "ENGINE_AUTO_MIGRATE": "false",
            "ENGINE_METRICS_ALLOW": "127.0.0.1/32",
        }
    )
    return env


def write_spec_without_history() -> str:
    """resources.yaml without any `history:` key (same schemas, plugins and migrations: same root)."""
    with open(os.path.join(ROOT, "resources.yaml"), encoding="utf-8") as fh:
        lines = [line for line in fh if not line.lstrip().startswith("history:")]
    with open(NO_HISTORY_SPEC, "w", encoding="utf-8") as fh:
        fh.writelines(lines)
    return NO_HISTORY_SPEC


REFERENCE = "reference"  # the baseline server's name: the hand-written one, or the engine at --against REV


def start_against(rev: str, workdir: str, env: dict[str, str]) -> subprocess.Popen:
    """The engine as it was at `rev`, from a git worktree of it, on the same database (migrated by
    this commit: a revision whose tables differ cannot be compared this way)."""
    checkout = os.path.join(workdir, "against")
    subprocess.run(["git", "worktree", "add", "--detach", checkout, rev], cwd=ROOT, check=True, capture_output=True)
    log(f"the baseline is the engine at {rev} ({checkout})")
    return start(
        [sys.executable, "-m", "engine", "serve", "--port", "8711"],
        {**env, "PYTHONPATH": checkout},  # its own engine package and plugins, not this checkout's
        8711,
        os.path.join(workdir, "reference.log"),
        cwd=checkout,
    )


def start(command: list[str], env: dict[str, str], port: int, log_path: str, cwd: str = ROOT) -> subprocess.Popen:
    out = open(log_path, "ab")
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            import urllib.request

            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/agents", timeout=1)
        except Exception as exc:  # 401 is an HTTPError: the server is up
            if getattr(exc, "code", None):
                return process
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited early; see {log_path}")
        time.sleep(0.2)
    raise RuntimeError(f"{command} did not start; see {log_path}")


def memory_kb(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process, from /proc."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a server process and every process under it (gunicorn workers), from /proc."""
    return sum(cpu_by_process(pid).values())


def cpu_since(pid: int, before: dict[int, float]) -> float:
    """CPU seconds the process family of `pid` used since `before` (a `cpu_by_process`): processes
    that ended meanwhile (an autovacuum worker) are left out, not subtracted."""
    return sum(used - before.get(member, 0.0) for member, used in cpu_by_process(pid).items())


def cpu_by_process(pid: int) -> dict[int, float]:
    """User + system CPU seconds of `pid` and each process under it, by process id."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    family: set[int] = {pid}
    while True:  # descendants, to a fixed point
        grown = family | {child for child, parent in parents.items() if parent in family}
        if grown == family:
            break
        family = grown
    return {member: used[member] for member in family if member in used}


def run_wrk(
    wrk: str,
    port: int,
    scenario: str,
    data_file: str,
    seconds: int,
    connections: int,
    script: str = "scenario.lua",
    pid: int | None = None,
    db_pid: int | None = None,
) -> dict:
    """One wrk run; with `pid`, also the server's CPU time per request (`cpu_us`), steadier than req/s
    on a shared machine; with `db_pid` (the postmaster), PostgreSQL's (`db_us`, every backend)."""
    before = cpu_seconds(pid) if pid else 0.0
    db_before = cpu_by_process(db_pid) if db_pid else {}
    command = [
        wrk,
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        os.path.join(ROOT, "bench", script),
        f"http://127.0.0.1:{port}",
        "--",
        scenario,
        data_file,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    if pid and result["requests"]:
        result["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / result["requests"]
    if db_pid and result["requests"]:
        result["db_us"] = cpu_since(db_pid, db_before) * 1e6 / result["requests"]
    return result


def summarize(samples: list[dict]) -> dict:
    return {
        "rps": statistics.median(s["rps"] for s in samples),
        "p50_ms": statistics.median(s["p50_us"] for s in samples) / 1000,
        "p99_ms": statistics.median(s["p99_us"] for s in samples) / 1000,
        "errors": sum(s["status_errors"] + s["socket_errors"] for s in samples),
        "cpu_us": statistics.median(s.get("cpu_us", 0.0) for s in samples),
        "db_us": statistics.median(s.get("db_us", 0.0) for s in samples),
    }


def table(results: dict, memory: dict) -> str:
    lines = [
        "| scenario | server | req/s | p50 ms | p99 ms | errors | peak RSS MB | server CPU us/req "
        "| PostgreSQL CPU us/req | ratio req/s | ratio p99 | ratio CPU/req |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, title in SCENARIOS.items():
        if scenario not in results:
            continue
        if scenario in ENGINE_ONLY:
            lines.append(engine_only_row(scenario, title, results, memory))
            continue
        baseline = BASELINES.get(scenario, REFERENCE)
        ref, eng = results[scenario][baseline], results[scenario]["engine"]
        for name, row in (("engine", eng), (baseline, ref)):
            ratio = f"{eng['rps'] / ref['rps']:.2f}" if name == "engine" else ""
            p99 = f"{eng['p99_ms'] / ref['p99_ms']:.2f}" if name == "engine" else ""
            cpu = f"{eng['cpu_us'] / ref['cpu_us']:.2f}" if name == "engine" and ref["cpu_us"] else ""
            lines.append(
                f"| {scenario} {title} | {name} | {row['rps']:.0f} | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {row['errors']} | {memory[name][1] / 1024:.0f} | {row['cpu_us']:.0f} | "
                f"{row['db_us']:.0f} | {ratio} | {p99} | {cpu} |"
            )
    return "\n".join(lines)


def engine_only_row(scenario: str, title: str, results: dict, memory: dict) -> str:
    """The engine's row for a scenario the reference lacks; `ratio req/s` compares rows per second
    with the scenario it stands in for (W7: rows/s of bulk creates over W3's single POSTs)."""
    eng = results[scenario]["engine"]
    versus, rows = ENGINE_ONLY[scenario]
    rows_per_s = eng["rps"] * rows
    ratio = f"{rows_per_s / results[versus]['engine']['rps']:.1f} rows/s vs {versus}" if versus in results else "n/a"
    return (
        f"| {scenario} {title} | engine | {eng['rps']:.1f} ({rows_per_s:.0f} rows/s) | {eng['p50_ms']:.2f} | "
        f"{eng['p99_ms']:.2f} | {eng['errors']} | {memory['engine'][1] / 1024:.0f} | {eng['cpu_us']:.0f} | "
        f"{eng['db_us']:.0f} | {ratio} |  |  |"
    )


def commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a few seconds per scenario; no RESULTS.md (--scale: marked quick)"
    )
    parser.add_argument("--seconds", type=int, help="seconds per round and server")
    parser.add_argument("--rounds", type=int, help="alternating rounds per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--agents-per-user", type=int, default=100)
    parser.add_argument("--scale", action="store_true", help="two engine processes, with and without a replica")
    parser.add_argument(
        "--against",
        metavar="REV",
        help="compare with the engine at another commit (a git revision) instead of the hand-written reference, "
        "in the same alternating rounds on the same database: one lever's measured effect; writes no RESULTS.md",
    )
    args = parser.parse_args()
    seconds = args.seconds or (3 if args.quick else 10)
    rounds = args.rounds or (1 if args.quick else 3)
    load_before = os.getloadavg()[0]
    wrk = ensure_wrk()
    if args.scale:
        import scale  # bench/scale.py: its own servers and data

        return scale.run(args, wrk)
    workdir = tempfile.mkdtemp(prefix="resource-engine-bench-")
    url = start_database(workdir)
    db_pid = postmaster_pid(workdir)
    log(f"PostgreSQL for this run: {workdir}")
    env = server_env(url)
    subprocess.run(
        [sys.executable, "-m", "engine", "migrate", "apply"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    data_file = os.path.join(workdir, "requests.txt")
    log(f"seeding {args.users} users and {args.users * args.agents_per_user} agents, {TEAMS} teams")
    write_requests(data_file, *asyncio.run(seed(url, args.users, args.agents_per_user)))
    servers = {
        "engine": start(
            [sys.executable, "-m", "engine", "serve", "--port", "8710"], env, 8710, os.path.join(workdir, "engine.log")
        )
    }
    if args.against:
        servers[REFERENCE] = start_against(args.against, workdir, env)
    else:
        servers[REFERENCE] = start(
            [sys.executable, os.path.join(ROOT, "bench", "reference", "server.py"), "--port", "8711"],
            env,
            8711,
            os.path.join(workdir, "reference.log"),
        )
    ports = {"engine": 8710, REFERENCE: 8711, "no history": 8712}
    if any(BASELINES.get(s) == "no history" for s in args.scenarios.split(",")):
        servers["no history"] = start(
            [sys.executable, "-m", "engine", "serve", "--port", "8712"],
            {**env, "ENGINE_SPEC": write_spec_without_history()},
            8712,
            os.path.join(workdir, "engine-no-history.log"),
        )
    results: dict = {}
    try:
        import same_answers  # bench/same_answers.py

        if not args.against:  # another commit may answer differently on purpose
            log(f"same answers from both servers: {same_answers.check(data_file, 8710, 8711)} reads compared")
        for scenario in args.scenarios.split(","):
            baseline = BASELINES.get(scenario, REFERENCE)
            samples: dict[str, list] = {"engine": []} if scenario in ENGINE_ONLY else {"engine": [], baseline: []}
            for round_number in range(rounds):
                order = ["engine", baseline] if round_number % 2 == 0 else [baseline, "engine"]
                order = [name for name in order if name in samples]
                connections = BULK_CONNECTIONS if scenario == "W7" else args.connections
                for name in order:
                    sample = run_wrk(
                        wrk,
                        ports[name],
                        scenario,
                        data_file,
                        seconds,
                        connections,
                        pid=servers[name].pid,
                        db_pid=db_pid,
                    )
                    samples[name].append(sample)
                    log(
                        f"{scenario} round {round_number + 1} {name}: {sample['rps']:.0f} req/s, "
                        f"p99 {sample['p99_us'] / 1000:.2f} ms, errors {sample['status_errors']}"
                    )
            results[scenario] = {name: summarize(s) for name, s in samples.items() if s}
            log(f"engine RSS after {scenario}: {memory_kb(servers['engine'].pid)[0] / 1024:.0f} MB")
        memory = {name: memory_kb(p.pid) for name, p in servers.items()}
        time.sleep(
            IDLE_SECONDS
        )  # the load gone: what each server keeps (the engine trims its heap, engine/server/memory.py)
        for name, p in servers.items():
            memory[name] = (*memory[name], memory_kb(p.pid)[0])
        sizes = ", ".join(f"{name} {m[0] / 1024:.0f} / {m[2] / 1024:.0f} MB" for name, m in memory.items())
        log(f"RSS after the run / after {IDLE_SECONDS} s idle: {sizes}")
    finally:
        for process in servers.values():
            process.send_signal(signal.SIGTERM)
        for process in servers.values():
            process.wait(timeout=30)
        if os.path.exists(NO_HISTORY_SPEC):
            os.remove(NO_HISTORY_SPEC)
        if args.against:
            subprocess.run(["git", "worktree", "remove", "--force", os.path.join(workdir, "against")], cwd=ROOT)
    report = table(results, memory)
    if args.against:
        report = report.replace(f"| {REFERENCE} |", f"| engine at {args.against} |")
    print(report)
    if not args.quick and not args.against:
        write_results(report, memory, seconds, rounds, args.connections, load_before)
    stop_database(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def write_results(report: str, memory: dict, seconds: int, rounds: int, connections: int, load: float) -> None:
    text = f"""# Benchmark results

Measured by `bench/run` on commit {commit()}, {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}.

Machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), Python {platform.python_version()},
load average before the run {load:.2f}. One server process each; PostgreSQL (pgserver, unix socket) on the
same machine; wrk with 2 threads and {connections} connections, {rounds} alternating rounds of {seconds} s per
scenario and server; the table shows medians over rounds. Engine with every default plugin on
(ENGINE_ENV=production; rate limiting set high enough never to refuse), served by `resource-engine serve`,
which runs on uvloop as in production; the reference runs on asyncio's default event loop, as written.

{report}

Steady-state RSS after the run: engine {memory["engine"][0] / 1024:.0f} MB, reference
{memory[REFERENCE][0] / 1024:.0f} MB; after {IDLE_SECONDS} s without load: engine {memory["engine"][2] / 1024:.0f} MB,
reference {memory[REFERENCE][2] / 1024:.0f} MB.

Server CPU per request: user + system CPU time of the server's processes during each round over the
requests it answered (medians over rounds); `ratio CPU/req` is the engine's over the reference's (lower is
better). PostgreSQL CPU per request: the same for the database's postmaster and all its backends (both
servers share it; the machine's two cores are shared by the server, PostgreSQL and wrk).

Reproduce: `bench/run` (full) or `bench/run --quick`.
"""
    path = os.path.join(ROOT, "bench", "RESULTS.md")
    earlier = ""
    if os.path.exists(path):  # the earlier runs and analyses stay below, the newest run on top
        with open(path, encoding="utf-8") as fh:
            earlier = fh.read().replace("# Benchmark results\n", "", 1).strip()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + ("\n## Earlier runs and analyses\n\n" + earlier + "\n" if earlier else ""))


if __name__ == "__main__":
    sys.exit(main())
