"""Before measuring: the engine and the reference give the same answers to the compared reads.

A ratio between two servers means something only when both answer the same question. For a
sample of the request file's lines this fetches W1 (one agent), W2 (a filtered, sorted page),
W6 (a team member's page) and W5 (a team with its members and shared agents) from both servers
and compares the status and the parsed `data`, key order included; W5 is also asked by other
callers than the bench's (the team's owner): an admin, a user outside the team (404) and the
next user of the request file (with the seeded data a member of the team, role member: the
co-member's view of the users rows and the hidden system_prompt). Then it creates and patches an
agent on each (W3, W4) and compares the statuses and the fields answered; any difference stops
the run, naming the request and where the answers part.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request

TEAM = "/api/teams/{}?include=members,agents"
READS = {  # name -> (token, path), from one line of the request file (token, agent, team, member, admin, word)
    "W1": lambda line, after: (line[0], f"/api/agents/{line[1]}"),
    "W2": lambda line, after: (line[0], "/api/agents?status=active&sort=-created_at&limit=20"),
    "W6": lambda line, after: (line[3], "/api/agents?limit=20"),
    "W5": lambda line, after: (line[0], TEAM.format(line[2])),  # as the bench asks: the team's owner
    "W5 as an admin": lambda line, after: (line[4], TEAM.format(line[2])),
    "W5 as an outsider": lambda line, after: (line[3], TEAM.format(line[2])),  # a member-only user: 404
    "W5 as the next user": lambda line, after: (after, TEAM.format(line[2])),
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


def difference(engine: object, reference: object, where: str = "data") -> str | None:
    """Where two parsed answers first part (key order included), or None when they are the same."""
    if isinstance(engine, dict) and isinstance(reference, dict):
        if list(engine) != list(reference):
            return f"{where}: keys {list(engine)} (engine) vs {list(reference)} (reference)"
        pairs = [(f"{where}.{key}", engine[key], reference[key]) for key in engine]
    elif isinstance(engine, list) and isinstance(reference, list):
        if len(engine) != len(reference):
            return f"{where}: {len(engine)} items (engine) vs {len(reference)} (reference)"
        pairs = [(f"{where}[{i}]", e, r) for i, (e, r) in enumerate(zip(engine, reference, strict=True))]
    elif type(engine) is not type(reference) or engine != reference:
        return f"{where}: {json.dumps(engine)[:200]} (engine) vs {json.dumps(reference)[:200]} (reference)"
    else:
        return None
    for inner, e, r in pairs:
        parted = difference(e, r, inner)
        if parted:
            return parted
    return None


def check(data_file: str, engine_port: int, reference_port: int, samples: int = 20) -> int:
    """Compare `samples` random lines' reads; returns how many requests matched, raises on a difference."""
    with open(data_file, encoding="ascii") as fh:
        lines = [line.split() for line in fh if line.strip()]
    owners = list(dict.fromkeys(line[0] for line in lines))  # one token per user, in the file's order
    after = {token: owners[(i + 1) % len(owners)] for i, token in enumerate(owners)}
    matched = 0
    for line in random.Random(5).sample(lines, min(samples, len(lines))):
        for name, read in READS.items():
            token, path = read(line, after[line[0]])
            engine, reference = _get(engine_port, token, path), _get(reference_port, token, path)
            if engine[0] != reference[0]:
                raise SystemExit(
                    f"{name} GET {path}: the engine answered {engine[0]} and the reference {reference[0]}; "
                    f"the comparison would not be like for like"
                )
            parted = difference(engine[1], reference[1])
            if parted:
                raise SystemExit(
                    f"{name} GET {path}: both answered {engine[0]} with different data, first at {parted}; "
                    f"the comparison would not be like for like"
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
