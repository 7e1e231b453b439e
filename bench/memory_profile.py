"""Python memory a served app keeps per caller: what the read scenarios leave behind, by source line.

    python bench/memory_profile.py [--scenarios W1,W2,W5,W6] [--users 1000] [--requests 6000] [--top 30]

Serves the example app in process on a seeded throwaway schema (bench/cpu_profile.py: `served`),
runs each scenario's client (another process), and prints the process's RSS after each scenario;
with --tracemalloc, the Python memory still allocated after the load that was not before it, grouped
by the engine line that made it (tracemalloc itself adds to RSS: read RSS without it).
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import sys
import tracemalloc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from cpu_profile import run_client, served  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def by_engine_line(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> collections.Counter:
    """Bytes kept, by the outermost engine frame of the allocation (where the engine asked for it)."""
    kept: collections.Counter = collections.Counter()
    for stat in after.compare_to(before, "traceback"):
        if stat.size_diff <= 0:
            continue
        frames = [f for f in stat.traceback if f"{ROOT}/engine/" in f.filename]
        where = frames[-1] if frames else stat.traceback[-1]
        kept[f"{os.path.relpath(where.filename, ROOT)}:{where.lineno}"] += stat.size_diff
    return kept


async def main(args: argparse.Namespace) -> None:
    async with served(args.users, 5) as (port, data):
        await run_client(port, "W1", 200, data)  # statements prepared, pool open
        gc.collect()
        print(f"RSS before the load: {rss_mb():.1f} MB")
        if args.tracemalloc:
            tracemalloc.start(30)
            before = tracemalloc.take_snapshot()
        for scenario in args.scenarios.split(","):
            await run_client(port, scenario, args.requests, data)
            gc.collect()
            print(f"RSS after {scenario}: {rss_mb():.1f} MB")
        if args.tracemalloc:
            kept = by_engine_line(before, tracemalloc.take_snapshot())
            print(f"Python memory kept after the load: {sum(kept.values()) / 2**20:.1f} MB; by line:")
            for where, size in kept.most_common(args.top):
                print(f"  {size / 2**20:6.2f} MB  {where}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="W1,W2,W5,W6")
    parser.add_argument("--users", type=int, default=1000, help="seeded users, each a caller (bench/run: 1000)")
    parser.add_argument("--requests", type=int, default=6000, help="requests per scenario")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--tracemalloc", action="store_true", help="also group the Python memory kept by line")
    import uvloop

    uvloop.run(main(parser.parse_args()))
