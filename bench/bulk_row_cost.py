"""PostgreSQL's CPU per row of a bulk create (W7), with the example's agents as declared and with one
declared feature taken away at a time: what each feature costs the database for every row it writes.

    python bench/bulk_row_cost.py [--requests 8] [--cycles 2]

A bulk create is one statement for any number of rows (engine/sql/bulk.py), so what is left per row
is the database's own work for each row: the insert and its indexes, the generated full-text search
vectors, the foreign-key check, the event and the version written in the same statement. No batching
can remove that work; this tool measures how much of it each declaration brings.

Each variant gets its own schema in TEST_DATABASE_URL (a PostgreSQL on this machine: its CPU is read
from /proc, the postmaster and every backend), its tables from the spec, and the example app served
in this process as bench/run serves it (ENGINE_ENV=production). One user posts `--requests` bodies of
1,000 agents (the body of W7), one at a time, after two to warm up; the variants take turns for
`--cycles` cycles and the median is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid

import aiohttp
import asyncpg
import jwt
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from harness import SECRET, cpu_by_process, server_env  # noqa: E402

PROMPT = "You are a careful assistant. Answer briefly and cite sources. " * 5  # bench/scenario.lua's W7 body
ROWS = 1000


def agent(n: int) -> dict:
    return {
        "name": f"bench agent {n}",
        "system_prompt": PROMPT,
        "parameters": {"temperature": 0.7, "max_tokens": 512, "model": "m-1"},
        "tools": [{"name": "search", "description": "web search"}, {"name": "calc"}],
    }


def without(raw: dict, feature: str | None) -> dict:
    """The agents declaration with one feature taken away (None: as declared; "all": every one)."""
    agents = raw["resources"]["agents"]
    for name in ("search", "history", "events", "references") if feature == "all" else (feature,):
        if name == "events":
            agents["events"] = {"emit": ["updated", "deleted"], "exclude": agents["events"].get("exclude", [])}
        elif name == "references":  # the owner's foreign key (and its per-row check)
            agents.pop("references", None)
        elif name is not None:
            agents.pop(name, None)
    return raw


VARIANTS = {
    "as declared": None,
    "without search (two tsvector columns, two GIN indexes)": "search",
    "without history (a version row each)": "history",
    "without the created event (an outbox row each)": "events",
    "without the user_id reference (a foreign-key check each)": "references",
    "without all four": "all",
}


def write_variant(feature: str | None) -> str:
    """resources.yaml without `feature`, written beside it (its schemas and plugins resolve the same)."""
    with open(os.path.join(ROOT, "resources.yaml"), encoding="utf-8") as fh:
        raw = without(yaml.safe_load(fh), feature)
    path = os.path.join(ROOT, f".bench-bulk-{uuid.uuid4().hex[:8]}.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(raw, fh, sort_keys=False)
    return path


def postmaster(backend_pid: int) -> int:
    with open(f"/proc/{backend_pid}/stat", encoding="ascii") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


async def measure(base: str, feature: str | None, requests: int) -> tuple[float, float]:
    """(PostgreSQL CPU us per row, this process's CPU us per row: server and client) for one variant."""
    from aiohttp import web

    from engine.http.app import create_app
    from engine.kernel.config import Config
    from engine.kernel.logs import LogSettings, configure_logging
    from engine.spec import load_spec
    from engine.testing import create_tables

    schema = f"bulk_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(base)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    db_pid = postmaster(await conn.fetchval("SELECT pg_backend_pid()"))
    spec_path = write_variant(feature)
    try:
        spec = load_spec(spec_path)
        await create_tables(base, schema, spec)
        users = f'"{schema}".users'
        await conn.execute(f"INSERT INTO {users} (id, email, name) VALUES ('bulk-user', 'b@example.com', 'B')")
        env = {**server_env(base), "DATABASE_URL": base, "ENGINE_DB_SCHEMA": schema, "ENGINE_LOG_LEVEL": "WARNING"}
        handler = configure_logging(LogSettings.from_env(env))
        handler.setStream(open(os.devnull, "w"))  # noqa: ASYNC230 - the server's log, not measured here
        app = create_app(spec, Config.from_env(spec, env=env))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        token = jwt.encode({"sub": "bulk-user", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with aiohttp.ClientSession() as session:

                async def post(n: int) -> None:
                    body = [agent(n * ROWS + i) for i in range(ROWS)]
                    async with session.post(f"http://127.0.0.1:{port}/api/agents", json=body, headers=headers) as r:
                        assert r.status == 201, await r.text()

                for n in range(2):
                    await post(n)
                db_before, own_before = cpu_by_process(db_pid), time.process_time()
                for n in range(2, 2 + requests):
                    await post(n)
                own = time.process_time() - own_before
                db = sum(used - db_before.get(pid, 0.0) for pid, used in cpu_by_process(db_pid).items())
        finally:
            await runner.cleanup()
        return db / (requests * ROWS) * 1e6, own / (requests * ROWS) * 1e6
    finally:
        os.unlink(spec_path)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    base = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.cycles):
        for name, feature in VARIANTS.items():
            results[name].append(await measure(base, feature, args.requests))
    print(f"per created row, median of {args.cycles} cycles of {args.requests} x {ROWS} rows:")
    print(f"{'variant':60s} {'PostgreSQL us':>14s} {'engine+client us':>17s}")
    for name, samples in results.items():
        db = statistics.median(s[0] for s in samples)
        own = statistics.median(s[1] for s in samples)
        print(f"{name:60s} {db:14.1f} {own:17.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8, help="measured bulk creates per variant and cycle")
    parser.add_argument("--cycles", type=int, default=2)
    asyncio.run(main(parser.parse_args()))
