"""Server CPU per request on one scenario, in process, under cProfile: deterministic evidence where
wall-clock benchmarks on a shared machine are noise.

    python bench/cpu_profile.py [--scenario W1] [--requests 5000] [--top 40] [--no-profile]
    python bench/cpu_profile.py --scenario W7 --warmup 16 --requests 16  # 1,000 rows a request

Besides the benchmark's scenarios: L5, a member's teams with their members and agents
(`GET /api/teams?include=members,agents`), and N5, a team's members (`GET /api/teams/{id}/members`).

It seeds a throwaway schema in TEST_DATABASE_URL, serves the example app exactly as the benchmark
does (ENGINE_ENV=production, JSON logs to a file, the rate limiter on), drives it from a client in
another process, and prints the server's CPU microseconds per request (time.process_time, without
the profiler) and, with the profiler, calls and own time per request grouped by package.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import io
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

import asyncpg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from harness import SECRET, seed, server_env, write_requests  # noqa: E402

CLIENT = """
import asyncio, random, sys, aiohttp
port, scenario, count, conns, data = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
items = [line.split() for line in open(data)]
prompt = "You are a careful assistant. Answer briefly and cite sources. " * 5
def agent_body(n):  # the body bench/scenario.lua sends for W3
    return {"name": f"bench agent {n}", "system_prompt": prompt,
            "parameters": {"temperature": 0.7, "max_tokens": 512, "model": "m-1"},
            "tools": [{"name": "search", "description": "web search"}, {"name": "calc"}]}
async def worker(session, n, rng):
    for i in range(n):
        token, agent, team, member = items[rng.randrange(len(items))][:4]
        headers = {"Authorization": f"Bearer {member if scenario in ('W6', 'L5') else token}"}  # a member-only user
        if scenario == "W3":
            request = session.post(f"http://127.0.0.1:{port}/api/agents", headers=headers, json=agent_body(i))
        elif scenario == "W4":  # the PATCH bench/scenario.lua sends
            body = {"name": f"renamed {i}", "status": "active"}
            request = session.patch(f"http://127.0.0.1:{port}/api/agents/{agent}", headers=headers, json=body)
        elif scenario == "W7":  # a bulk create of 1,000 agents (profile per request: divide by 1,000 per row)
            body = [agent_body(i * 1000 + j) for j in range(1000)]
            request = session.post(f"http://127.0.0.1:{port}/api/agents", headers=headers, json=body)
        else:
            path = {"W1": f"/api/agents/{agent}", "W2": "/api/agents?status=active&sort=-created_at&limit=20",
                    "W5": f"/api/teams/{team}?include=members,agents", "W6": "/api/agents?limit=20",
                    "L5": "/api/teams?include=members,agents",  # W5 as a list: a member's teams
                    "N5": f"/api/teams/{team}/members"}[scenario]  # a nested list: links and far rows
            request = session.get(f"http://127.0.0.1:{port}{path}", headers=headers)
        async with request as r:
            await r.read()
            assert r.status in (200, 201), r.status
async def main():
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as session:
        await asyncio.gather(*(worker(session, count // conns, random.Random(i)) for i in range(conns)))
asyncio.run(main())
"""


def group(filename: str) -> str:
    for marker in ("/engine/", "/aiohttp/", "/asyncpg/", "/multidict/", "/yarl/", "/logging/", "/asyncio/"):
        if marker in filename:
            return marker.strip("/")
    if "/plugins/" in filename or ("site-packages" not in filename and filename.startswith(ROOT)):
        return "project"
    return "builtins" if filename == "~" else os.path.basename(filename)


def report(profile: cProfile.Profile, requests: int, top: int, sort: str = "tottime", dump: str | None = None) -> None:
    stats = pstats.Stats(profile)
    if dump:
        stats.dump_stats(dump)  # for pstats' print_callers: who calls what
    groups: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        groups[group(filename)] += tottime
    print("own time per request by package (us, under the profiler):")
    for name, seconds in sorted(groups.items(), key=lambda item: -item[1])[:15]:
        print(f"  {name:20s} {seconds / requests * 1e6:8.1f}")
    total_calls = sum(v[1] for v in stats.stats.values())  # type: ignore[attr-defined]
    print(f"function calls per request: {total_calls / requests:.1f}")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(sort).print_stats(top)
    pstats.Stats(profile, stream=out).sort_stats(sort).print_stats(f"{ROOT}/(engine|plugins)", top)
    print(out.getvalue())


async def run_client(port: int, scenario: str, count: int, data: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, str(port), scenario, str(count), "8", data
    )
    if await process.wait() != 0:
        raise RuntimeError("client failed")


@contextlib.asynccontextmanager
async def served(
    users: int, agents_per_user: int, disable: Sequence[str] = (), log_level: str | None = None
) -> AsyncIterator[tuple[int, str]]:
    """The example app served in this process, as the benchmark serves it, on a throwaway schema
    seeded in TEST_DATABASE_URL: yields its port and the clients' request file (`run_client`)."""
    from aiohttp import web

    from engine.http.app import create_app
    from engine.kernel.config import Config
    from engine.kernel.logs import LogSettings, configure_logging
    from engine.server import gc_tuning
    from engine.spec import load_spec
    from engine.testing import create_tables

    base = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    schema = f"prof_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(base)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    workdir = tempfile.mkdtemp(prefix="cpu-profile-")
    try:
        spec = load_spec(os.path.join(ROOT, "resources.yaml"))
        if disable:  # as `plugins: {disabled: [...]}` in resources.yaml would
            spec = dataclasses.replace(spec, disabled_plugins=(*spec.disabled_plugins, *disable))
        await create_tables(base, schema, spec)
        data = os.path.join(workdir, "requests.txt")
        separator = "&" if "?" in base else "?"  # an embedded PostgreSQL's URL carries ?host=
        write_requests(data, *await seed(f"{base}{separator}search_path={schema}", users, agents_per_user))
        env = {**server_env(base), "ENGINE_JWT_SECRET": SECRET, "DATABASE_URL": base, "ENGINE_DB_SCHEMA": schema}
        env["ENGINE_LOG_LEVEL"] = log_level or env["ENGINE_LOG_LEVEL"]
        config = Config.from_env(spec, env=env)
        handler = configure_logging(LogSettings.from_env(env))
        handler.setStream(open(os.path.join(workdir, "server.log"), "w"))  # noqa: ASYNC230 - stderr as bench/run sees it
        app = create_app(spec, config)
        gc_tuning.install(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield site._server.sockets[0].getsockname()[1], data  # type: ignore[union-attr]
        finally:
            await runner.cleanup()
    finally:
        conn = await asyncpg.connect(base)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    async with served(args.users, args.agents_per_user, args.disable, args.log_level) as (port, data):
        await run_client(port, args.scenario, args.warmup, data)  # warm-up: statements prepared, caches full
        cpu, rates = [], []
        for _ in range(args.repeat):
            started, wall = time.process_time(), time.perf_counter()
            await run_client(port, args.scenario, args.requests, data)
            rates.append(args.requests / (time.perf_counter() - wall))
            cpu.append((time.process_time() - started) / args.requests * 1e6)
        print(f"server CPU per request (us), {args.repeat} runs of {args.requests}: {sorted(cpu)}")
        print(f"requests per second (8 connections, client included): {sorted(rates)}")
        if not args.no_profile:
            # --cpu-clock: time on the CPU only, so a send() descheduled on a busy machine does not count
            profile = cProfile.Profile(time.process_time) if args.cpu_clock else cProfile.Profile()
            profile.enable()
            await run_client(port, args.scenario, args.requests, data)
            profile.disable()
            report(profile, args.requests, args.top, args.sort, args.dump)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="W1", choices=("W1", "W2", "W3", "W4", "W5", "W6", "W7", "L5", "N5"))
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2000, help="requests before measuring (W7: a few)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--users", type=int, default=50, help="seeded users (bench/run: 1000)")
    parser.add_argument("--agents-per-user", type=int, default=20, help="seeded agents per user (bench/run: 100)")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--cpu-clock", action="store_true", help="profile CPU time (process_time) instead of wall time")
    parser.add_argument("--sort", default="tottime", help="pstats order: tottime (own time) or cumulative")
    parser.add_argument("--dump", help="also write the profile to this file (pstats format)")
    parser.add_argument("--log-level", help="override ENGINE_LOG_LEVEL (WARNING: no access lines)")
    parser.add_argument(
        "--disable", action="append", default=[], help="a plugin to switch off (repeatable), e.g. history"
    )
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="serve on uvloop, as `resource-engine serve` does (the profile then "
        "shows the loop's work as C, outside Python functions)",
    )
    arguments = parser.parse_args()
    if arguments.uvloop:
        import uvloop

        uvloop.run(main(arguments))
    else:
        asyncio.run(main(arguments))
