"""Before measuring: the engine and the reference give the same answers to the compared reads.

A ratio between two servers means something only when both answer the same question. For a
sample of the request file's lines this fetches W1 (one agent), W2 (a filtered, sorted page) and
W6 (a team member's page) from both servers and compares the parsed `data`, then creates and
patches an agent on each (W3, W4) and compares the statuses and the fields answered; any
difference stops the run, naming the request.
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


def _get(port: int, token: str, path: str, method: str = "GET", body: object = None) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, headers, method=method)
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
    token = lines[0][0]
    for name, port in (("engine", engine_port), ("reference", reference_port)):  # W3 then W4: the same shape
        created = _get(port, token, "/api/agents", "POST", {"name": "same answers", "tools": [{"name": "t"}]})
        patched = _get(port, token, f"/api/agents/{created[1]['id']}", "PATCH", {"name": "renamed", "status": "active"})
        shapes = (created[0], sorted(created[1]), patched[0], sorted(patched[1]), patched[1]["status"])
        if name == "engine":
            expected = shapes
        elif shapes != expected:
            raise SystemExit(f"a create and a patch: the engine answered {expected}, the reference {shapes}")
    return matched + 2
