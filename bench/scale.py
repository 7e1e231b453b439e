"""`bench/run --scale`: two engine processes, with and without a streaming replica, and the cost of
read-your-writes.

It starts its own primary PostgreSQL on a loopback port and a hot standby made from it with
`pg_basebackup -R` (the binaries pgserver ships; tests/load/pg.py and replica.py), seeds the data
set of the main benchmark, and runs `resource-engine serve --workers 2` twice on the same data:

- `primary`: every query on the primary;
- `replica`: `DATABASE_REPLICA_URLS` set, so reads go to the standby.

Scenarios: the read scenarios of the main benchmark (W1, W2, W6), and two of its own, each a
connection that writes then reads the row it wrote (a PATCH, then a GET of the same agent):
W7 sends the write's `Engine-Consistency-Token` with the read (read-your-writes: the read waits
for nothing, it goes to the primary until the replica has replayed the write), W8 sends none.
Writes the table to bench/RESULTS-scale.md (full mode) or prints it (--quick).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import asyncpg
import harness

sys.path.insert(0, os.path.join(harness.ROOT, "tests"))
from load.pg import ThrowawayPostgres
from load.replica import ThrowawayStandby

READS = ("W1", "W2", "W6")
RYW = {"W7": "PATCH then GET of the same agent with the write's token", "W8": "the same without a token"}
PORT = 8720


async def _caught_up(primary_url: str, standby_url: str) -> None:
    primary, standby = await asyncpg.connect(primary_url), await asyncpg.connect(standby_url)
    try:
        target = await primary.fetchval("SELECT pg_current_wal_lsn()")
        for _ in range(3000):  # at most ten minutes: the seed is large, the standby replays it
            if await standby.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", target):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError("the standby did not replay the seed within ten minutes")
    finally:
        await primary.close()
        await standby.close()


def _serve(env: dict[str, str], log_path: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "engine", "serve", "--port", str(PORT), "--workers", "2"]
    return harness.start(command, env, PORT, log_path)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def run(args, wrk: str) -> int:
    seconds = args.seconds or (3 if args.quick else 10)
    rounds = args.rounds or (1 if args.quick else 3)
    primary = ThrowawayPostgres()
    primary.start()
    standby = None
    servers: list[subprocess.Popen] = []
    try:
        env = harness.server_env(primary.url)
        subprocess.run(
            [sys.executable, "-m", "engine", "migrate", "apply"],
            cwd=harness.ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        data_file = os.path.join(primary.directory, "requests.txt")
        harness.log(f"seeding {args.users} users and {args.users * args.agents_per_user} agents")
        harness.write_requests(data_file, *asyncio.run(harness.seed(primary.url, args.users, args.agents_per_user)))
        standby = ThrowawayStandby(primary)
        standby.start()
        asyncio.run(_caught_up(primary.url, standby.url))
        setups = {"primary": env, "replica": {**env, "DATABASE_REPLICA_URLS": standby.url}}
        scenarios = [s for s in args.scenarios.split(",") if s in READS] + list(RYW)
        results: dict = {}
        for name, setup in setups.items():
            process = _serve(setup, os.path.join(primary.directory, f"engine-{name}.log"))
            servers.append(process)
            try:
                for scenario in scenarios:
                    script = "scale.lua" if scenario in RYW else "scenario.lua"
                    samples = [
                        harness.run_wrk(wrk, PORT, scenario, data_file, seconds, args.connections, script)
                        for _ in range(rounds)
                    ]
                    results.setdefault(scenario, {})[name] = harness.summarize(samples)
                    harness.log(f"{scenario} {name}: {results[scenario][name]['rps']:.0f} req/s")
            finally:
                _stop(process)
                servers.remove(process)
        report = _table(results)
        print(report)
        if not args.quick:
            _write(report, seconds, rounds, args.connections)
    finally:
        for process in servers:
            _stop(process)
        if standby is not None:
            standby.close()
        primary.close()
    return 0


def _table(results: dict) -> str:
    lines = [
        "| scenario | primary only req/s | p99 ms | with a replica req/s | p99 ms | ratio req/s | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    titles = {**harness.SCENARIOS, **RYW}
    for scenario, by_setup in results.items():
        p, r = by_setup["primary"], by_setup["replica"]
        lines.append(
            f"| {scenario} {titles[scenario]} | {p['rps']:.0f} | {p['p99_ms']:.2f} | {r['rps']:.0f} | "
            f"{r['p99_ms']:.2f} | {r['rps'] / p['rps']:.2f} | {p['errors'] + r['errors']} |"
        )
    return "\n".join(lines)


def _write(report: str, seconds: int, rounds: int, connections: int) -> None:
    text = f"""# Scale-out benchmark

Measured by `bench/run --scale` on commit {harness.commit()}, {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")},
load average before the run {os.getloadavg()[0]:.2f}. `resource-engine serve --workers 2` on one port; a
primary PostgreSQL and a hot standby (pg_basebackup -R) on loopback ports of the same {os.cpu_count()}-core
machine; wrk with 2 threads and {connections} connections, {rounds} rounds of {seconds} s, medians.
W7/W8: each request of a connection alternates a PATCH of an agent and a GET of it; W7 sends the
PATCH's consistency token with the GET (read-your-writes), W8 sends none.

{report}

On one machine the replica shares the cores with the primary and the engine, so this measures the
routing's cost and correctness under load more than the capacity a separate replica host adds.
"""
    with open(os.path.join(harness.ROOT, "bench", "RESULTS-scale.md"), "w", encoding="utf-8") as fh:
        fh.write(text)


