"""The nothing-lost load test, long form: ``python -m tests.load --seconds 60`` from the repository root.

Starts its own throwaway PostgreSQL (or uses --database-url), serves the example app with
``resource-engine serve --workers N``, drives the mixed workload, prints the figures as JSON
(and writes them to --out), and exits 1 unless nothing was lost and no request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from .pg import ThrowawayPostgres
from .scenario import load_test


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long the users run (default 60)")
    parser.add_argument("--users", type=int, default=50, help="virtual users writing and reading (default 50)")
    parser.add_argument("--streams", type=int, default=5, help="users also holding an event stream (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers; 0: one process (default 2)")
    parser.add_argument("--database-url", help="an existing PostgreSQL (a fresh schema is used and dropped)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="also write the report to this JSON file")
    args = parser.parse_args()
    options = dict(seconds=args.seconds, users=args.users, streams=args.streams, workers=args.workers or None)
    if args.database_url:
        report = asyncio.run(load_test(args.database_url, seed=args.seed, **options))
    else:
        with ThrowawayPostgres() as pg:
            report = asyncio.run(load_test(pg.url, seed=args.seed, **options))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
