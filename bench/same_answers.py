"""Before measuring: the engine and the reference give the same answers to the compared reads.

A ratio between two servers means something only when both answer the same question. For a
sample of the request file's lines this fetches W1 (one agent), W2 (a filtered, sorted page) and
W6 (a team member's page) from both servers and compares the parsed `data`; any difference stops
the run, naming the request.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request

READS = {  # scenario -> path, from one line of the request file (token, agent, team, member, admin, word)
    "W1": lambda line: (line[0], f"/api/agents/{line[1]}"),
    "W2": lambda line: (line[0], "/api/agents?status=active&sort=-created_at&limit=20"),
    "W6": lambda line: (line[3], "/api/agents?limit=20"),
}


def _get(port: int, token: str, path: str) -> tuple[int, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())["data"]
    except urllib.error.HTTPError as exc:
        return exc.code, None


def check(data_file: str, engine_port: int, reference_port: int, samples: int = 20) -> int:
    """Compare `samples` random lines' reads; returns how many requests matched, raises on a difference."""
    with open(data_file, encoding="ascii") as fh:
        lines = [line.split() for line in fh if line.strip()]
    matched = 0
    for line in random.Random(5).sample(lines, min(samples, len(lines))):
        for scenario, read in READS.items():
            token, path = read(line)
            engine, reference = _get(engine_port, token, path), _get(reference_port, token, path)
            if engine != reference:
                raise SystemExit(
                    f"{scenario} GET {path}: the engine answered {engine[0]} and the reference {reference[0]} "
                    f"with different data; the comparison would not be like for like"
                )
            matched += 1
    return matched
