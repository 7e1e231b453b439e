"""`bench/run --scale`: two engine processes, with and without a streaming replica, and the cost of
read-your-writes.

It starts its own primary PostgreSQL on a loopback port and a hot standby made from it with
`pg_basebackup -R` (the binaries pgserver ships; tests/load/pg.py and replica.py), seeds the data
set of the main benchmark, and serves it with two engines at once, each `resource-engine serve
--workers 2` (two worker processes behind one port):

- `primary`: every query on the primary;
- `replica`: `DATABASE_REPLICA_URLS` set, so the reads of a GET go to the standby.

Rounds alternate between the two, as in the main benchmark, so a machine whose load drifts
treats both alike. Scenarios: the read scenarios of the main benchmark (W1, W2, W6, the counts
W8 and W9, the search W10), and two of its own, where each wrk thread alternates a PATCH of an
agent and a GET of it: R1 sends the newest `Engine-Consistency-Token` its thread has received
with the GET (read-your-writes: the read goes to the primary until the replica has replayed the
write), R2 sends none. For each round of the `replica` engine, GET /metrics tells where its reads
ran (`engine_db_reads_total`): the share the replica served is what read-your-writes costs in
offload. Writes bench/RESULTS-scale.md; a --quick run says so at the top of the file.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime

import asyncpg
import harness

sys.path.insert(0, os.path.join(harness.ROOT, "tests"))
from load.pg import ThrowawayPostgres
from load.replica import ThrowawayStandby

READS = ("W1", "W2", "W6", "W8", "W9", "W10")  # the main benchmark's reads: a replica may serve them all
RYW = {
    "R1": "PATCH then GET of an agent, the GET with its thread's newest consistency token",
    "R2": "the same without a token",
}
PORTS = {"primary": 8720, "replica": 8721}
_READS_METRIC = re.compile(r"^engine_db_reads_total\{([^}]*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


async def _caught_up(primary_url: str, standby_url: str) -> None:
    """Until the standby has replayed what the primary had written when this was called."""
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


def _serve(name: str, env: dict[str, str], log_path: str) -> subprocess.Popen:
    port = PORTS[name]
    command = [sys.executable, "-m", "engine", "serve", "--port", str(port), "--workers", "2"]
    return harness.start(command, env, port, log_path)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def _reads_by_reason(port: int) -> dict[tuple[str, str], float]:
    """engine_db_reads_total of an engine, {(target, reason): reads}, summed over its workers."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found: dict[tuple[str, str], float] = {}
    for labels, value in _READS_METRIC.findall(text):
        named = dict(_LABEL.findall(labels))
        key = (named.get("target", "?"), named.get("reason", "?"))
        found[key] = found.get(key, 0.0) + float(value)
    return found


def _routed(before: dict, after: dict) -> dict[tuple[str, str], float]:
    return {key: after[key] - before.get(key, 0.0) for key in after if after[key] > before.get(key, 0.0)}


def _measure(name: str, scenario: str, wrk: str, data_file: str, seconds: int, connections: int, pid: int) -> dict:
    script = "scale.lua" if scenario in RYW else "scenario.lua"
    before = _reads_by_reason(PORTS[name])
    sample = harness.run_wrk(wrk, PORTS[name], scenario, data_file, seconds, connections, script, pid=pid)
    sample["routed"] = _routed(before, _reads_by_reason(PORTS[name]))
    harness.log(
        f"{scenario} {name}: {sample['rps']:.0f} req/s, p99 {sample['p99_us'] / 1000:.2f} ms, "
        f"errors {sample['status_errors'] + sample['socket_errors']}, reads {_share(sample['routed'])}"
    )
    return sample


def _share(routed: dict[tuple[str, str], float]) -> str:
    """The share of reads the replica served (and how many after asking it), and why the others went to the primary."""
    total = sum(routed.values())
    if not total:
        return "n/a"
    on_replica = sum(n for (target, _), n in routed.items() if target == "replica")
    asked = routed.get(("replica", "caught_up"), 0.0)
    others = sorted(((n, reason) for (target, reason), n in routed.items() if target == "primary"), reverse=True)
    why = ", ".join(f"{reason} {n / total:.0%}" for n, reason in others if n)
    share = f"{on_replica / total:.0%} on the replica" + (f", caught_up {asked / total:.0%}" if asked else "")
    return share + (f" (primary: {why})" if why else "")


def _summary(samples: list[dict]) -> dict:
    summary = harness.summarize(samples)
    routed: dict[tuple[str, str], float] = {}
    for sample in samples:
        for key, n in sample["routed"].items():
            routed[key] = routed.get(key, 0.0) + n
    summary["routed"] = routed
    return summary


def run(args, wrk: str) -> int:
    seconds = args.seconds or (3 if args.quick else 10)
    rounds = args.rounds or (1 if args.quick else 3)
    load_before = os.getloadavg()
    primary = ThrowawayPostgres()
    primary.start()
    standby = None
    servers: dict[str, subprocess.Popen] = {}
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
        harness.log("making the standby (pg_basebackup -R)")
        standby = ThrowawayStandby(primary)
        standby.start()
        asyncio.run(_caught_up(primary.url, standby.url))
        setups = {"primary": env, "replica": {**env, "DATABASE_REPLICA_URLS": standby.url}}
        for name, setup in setups.items():
            servers[name] = _serve(name, setup, os.path.join(primary.directory, f"engine-{name}.log"))
        scenarios = [s for s in args.scenarios.split(",") if s in READS] + list(RYW)
        results: dict = {}
        for scenario in scenarios:
            samples: dict[str, list[dict]] = {name: [] for name in setups}
            for round_number in range(rounds):
                order = list(setups) if round_number % 2 == 0 else list(reversed(setups))
                for name in order:
                    asyncio.run(_caught_up(primary.url, standby.url))  # each round starts from a replayed standby
                    pid = servers[name].pid
                    samples[name].append(_measure(name, scenario, wrk, data_file, seconds, args.connections, pid))
            results[scenario] = {name: _summary(s) for name, s in samples.items()}
        load_after = os.getloadavg()
    finally:
        for process in servers.values():
            _stop(process)
        if standby is not None:
            standby.close()
        primary.close()
    report = _table(results) + "\n\n" + _cost(results)
    print(report)
    _write(report, args, seconds, rounds, load_before[0], load_after[0])
    return 0


def _table(results: dict) -> str:
    lines = [
        "| scenario | primary only req/s | p99 ms | with a replica req/s | p99 ms | ratio req/s "
        "| reads of the replica engine | errors |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    titles = {**harness.SCENARIOS, **RYW}
    for scenario, by_setup in results.items():
        p, r = by_setup["primary"], by_setup["replica"]
        lines.append(
            f"| {scenario} {titles[scenario]} | {p['rps']:.0f} | {p['p99_ms']:.2f} | {r['rps']:.0f} | "
            f"{r['p99_ms']:.2f} | {r['rps'] / p['rps']:.2f} | {_share(r['routed'])} | {p['errors'] + r['errors']} |"
        )
    return "\n".join(lines)


def _cost(results: dict) -> str:
    """Read-your-writes in one paragraph: R1 against R2 on the replica engine."""
    if not {"R1", "R2"} <= set(results):
        return ""
    with_token, without = results["R1"]["replica"], results["R2"]["replica"]
    return (
        f"Read-your-writes on the replica engine: R1 (reads with the token) {with_token['rps']:.0f} req/s, "
        f"p99 {with_token['p99_ms']:.2f} ms, reads {_share(with_token['routed'])}; R2 (no token) "
        f"{without['rps']:.0f} req/s, p99 {without['p99_ms']:.2f} ms, reads {_share(without['routed'])}; "
        f"R1/R2 = {with_token['rps'] / without['rps']:.2f}. Both pay one `pg_current_wal_lsn()` per write for "
        "the token; R1's reads with a token newer than the monitor's last check ask the replica its replay position "
        "first: served there if it has replayed the token (`caught_up`), else by the primary (`behind_token`)."
    )


def _write(report: str, args, seconds: int, rounds: int, load_before: float, load_after: float) -> None:
    cores, agents = os.cpu_count(), args.users * args.agents_per_user
    plan = f"{rounds} round{'s' if rounds > 1 else ''} of {seconds} s per scenario and engine"
    if args.quick:
        banner = (
            f"**A `bench/run --scale --quick` run ({plan}) on a busy, shared {cores}-core machine (load average "
            f"{load_before:.2f} before the run, {load_after:.2f} after). It shows that the mode works end to end; "
            "its figures are not capacity figures. The full run (`bench/run --scale`) belongs on a quiet machine.**"
        )
    else:
        banner = f"Load average {load_before:.2f} before the run, {load_after:.2f} after."
    text = f"""# Scale-out benchmark

{banner}

Measured by `bench/run --scale{" --quick" if args.quick else ""}` on commit {harness.commit()}, \
{datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}.

Two engines at once, each `resource-engine serve --workers 2` on its own port: `primary` with every
query on the primary, `replica` with `DATABASE_REPLICA_URLS` naming a hot standby (pg_basebackup -R).
The primary PostgreSQL and the standby run on loopback ports of the same {cores}-core machine as both
engines and wrk. Data: {args.users} users and {agents} agents, seeded as for the main benchmark. wrk
with 2 threads and {args.connections} connections, {plan}, alternating which engine goes first;
medians over rounds. Before each round the standby has replayed every write so far. "reads of the
replica engine": where its reads ran during the rounds, from its `engine_db_reads_total`.

R1/R2: each wrk thread alternates a PATCH of an agent and a GET of it. wrk keeps one Lua state per
thread, not per connection, so R1's GET carries the newest token its thread has received (a read
right after a write, not always of the row that write changed); R2's carries none. A token newer
than the replica monitor's last check (every `ENGINE_REPLICA_CHECK_INTERVAL`, 0.5 s by default)
costs the read one `pg_last_wal_replay_lsn()` on the replica's connection: the replica serves it if
it has replayed the token (`caught_up`), else the primary does (`behind_token`).

{report}

On one machine the replica shares the cores with the primary, both engines and wrk, so this
measures the routing's cost and its correctness under load more than the capacity that a replica
on its own host adds.
"""
    with open(os.path.join(harness.ROOT, "bench", "RESULTS-scale.md"), "w", encoding="utf-8") as fh:
        fh.write(text)
