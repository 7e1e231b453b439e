"""Instructions the server executes per request, counted by valgrind: a figure that does not move with
the machine's load, for A/B comparisons of small changes where req/s and even CPU time are noise.

    python bench/instructions.py [--scenario W1] [--against REV] [--small 200] [--large 1200]

It runs bench/cpu_profile.py (the example app in process, seeded, driven by a client in another
process) under callgrind twice, with `--small` and with `--large` measured requests after the same
warm-up, and divides the difference in instructions by the difference in requests: start-up,
seeding and warm-up cancel out. Only the server process is counted (the client and PostgreSQL are
not traced). `--against REV` counts the engine at another commit the same way, from a temporary
git worktree (with this checkout's bench/cpu_profile.py and harness.py, so both counts drive the
server the same way), and prints both. `--uvloop` serves on uvloop, as production does; the default
is asyncio's loop, whose timers and callbacks are Python (more instructions, the same levers).
Expect a few minutes per count: valgrind runs Python ~50x slower.

User-space instructions only: system calls' kernel time is not in the figure (count them with
`strace -c -p <pid>`), and neither is time waiting for PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def collected(checkout: str, scenario: str, requests: int, warmup: int, uvloop: bool = False) -> int:
    """Instructions callgrind counted in the server process for one cpu_profile run."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        os.path.join(checkout, "bench", "cpu_profile.py"),
        "--scenario",
        scenario,
        "--no-profile",
        "--repeat",
        "1",
        "--warmup",
        str(warmup),
        "--requests",
        str(requests),
        *(["--uvloop"] if uvloop else []),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts in every run
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"the run under valgrind failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_request(checkout: str, args: argparse.Namespace) -> float:
    small = collected(checkout, args.scenario, args.small, args.warmup, args.uvloop)
    large = collected(checkout, args.scenario, args.large, args.warmup, args.uvloop)
    return (large - small) / (args.large - args.small)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="W1", help="as bench/cpu_profile.py: W1-W7, L5, N5")
    parser.add_argument("--against", help="also count the engine at this commit")
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--uvloop", action="store_true", help="serve on uvloop, as production does")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    here = per_request(ROOT, args)
    print(f"{args.scenario}: {here:,.0f} instructions per request (this checkout)")
    if args.against:
        folder = tempfile.mkdtemp(prefix="instructions-")
        checkout = os.path.join(folder, "against")
        subprocess.run(["git", "worktree", "add", "--detach", checkout, args.against], cwd=ROOT, check=True)
        for driver in ("cpu_profile.py", "harness.py"):  # the same client, seed and options for both counts
            shutil.copy(os.path.join(ROOT, "bench", driver), os.path.join(checkout, "bench", driver))
        try:
            there = per_request(checkout, args)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", checkout], cwd=ROOT, check=False)
            shutil.rmtree(folder, ignore_errors=True)
        print(f"{args.scenario}: {there:,.0f} instructions per request at {args.against}")
        print(f"{args.scenario}: this checkout / {args.against} = {here / there:.3f}")


if __name__ == "__main__":
    main()
