"""The mixed workload of the nothing-lost load test, against any running server of the example app.

Virtual users run in a loop: list and read their agents, create agents (with Idempotency-Key, and
some sent twice as a client retry would), rename and delete them, link them to their team and
list the team's agents (nested routes), and page through events. A few more users hold an event
stream open. Every 2xx write goes into a ledger; `reconcile` then checks it against the database:
every acknowledged create present with the right owner, no duplicate from a retried POST, as many
agent events as acknowledged agent changes, and every stream received its user's creates.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import orjson

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)
# name -> weight: what one step of a virtual user does
MIX = {
    "list": 30,
    "read": 20,
    "create": 18,
    "retry_create": 4,
    "update": 10,
    "delete": 4,
    "nested_link": 5,
    "nested_list": 5,
    "events": 4,
}


@dataclass
class Ledger:
    """What the server acknowledged, per user."""

    created: dict[str, str] = field(default_factory=dict)  # agent id -> owner
    names: dict[str, str] = field(default_factory=dict)  # agent id -> the unique name it was created with
    deleted: set[str] = field(default_factory=set)
    updates: int = 0
    retries: int = 0
    retry_mismatches: list[str] = field(default_factory=list)
    indeterminate: int = 0  # 5xx or no answer: may or may not have happened


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # connection-level failures by type
    unexpected: list[str] = field(default_factory=list)

    def add(self, kind: str, status: int, seconds: float) -> None:
        self.latencies[kind].append(seconds)
        self.statuses[status] += 1


class VirtualUser:
    def __init__(self, name: str, token: str, base: str, session: aiohttp.ClientSession, ledger: Ledger, stats: Stats):
        self.name = name
        self.headers = {"Authorization": f"Bearer {token}"}
        self.base = base
        self.session = session
        self.ledger = ledger
        self.stats = stats
        self.agents: list[str] = []
        self.linked: set[str] = set()
        self.team: str | None = None
        self.count = 0

    async def call(self, kind: str, method: str, path: str, body: Any = None, headers: dict | None = None):
        """One request; returns (status, json body or None, response headers) or None on a dropped one."""
        started = time.perf_counter()
        data = orjson.dumps(body) if body is not None else None
        merged = {**self.headers, **({"Content-Type": "application/json"} if data else {}), **(headers or {})}
        try:
            async with self.session.request(
                method, self.base + path, data=data, headers=merged, timeout=REQUEST_TIMEOUT
            ) as response:
                raw = await response.read()
                self.stats.add(kind, response.status, time.perf_counter() - started)
                parsed = orjson.loads(raw) if raw and response.content_type.endswith("json") else None
                if response.status >= 400:
                    self.stats.unexpected.append(f"{kind} {method} {path}: {response.status} {raw[:200]!r}")
                return response.status, parsed, response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.stats.errors[type(exc).__name__] += 1
            self.stats.latencies[kind].append(time.perf_counter() - started)
            return None

    async def setup(self) -> None:
        answer = await self.call("create", "POST", "/api/teams", {"name": f"team of {self.name}"})
        if answer and answer[0] == 201:
            self.team = answer[1]["data"]["id"]

    async def step(self, rng: random.Random) -> None:
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind in ("read", "update", "delete", "nested_link") and not self.agents:
            kind = "create"
        await getattr(self, kind)(rng)

    async def list(self, rng: random.Random) -> None:
        await self.call("list", "GET", "/api/agents?status=draft&sort=-created_at&limit=20")

    async def read(self, rng: random.Random) -> None:
        await self.call("read", "GET", f"/api/agents/{rng.choice(self.agents)}")

    async def create(self, rng: random.Random, *, retry: bool = False) -> None:
        self.count += 1
        name = f"load-{self.name}-{self.count}"
        key = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"name": name, "system_prompt": "You help with load tests." * rng.randint(1, 20)}
        first = await self.call("create", "POST", "/api/agents", body, key)
        second = await self.call("retry_create", "POST", "/api/agents", body, key) if retry else None
        acked = [a for a in (first, second) if a is not None and a[0] == 201]
        if not acked:
            self.ledger.indeterminate += 1
            return
        ids = {a[1]["data"]["id"] for a in acked}
        if len(ids) > 1:
            self.ledger.retry_mismatches.append(f"{name}: {sorted(ids)}")
        if retry:
            self.ledger.retries += 1
        agent = acked[0][1]["data"]["id"]
        self.ledger.created[agent] = self.name
        self.ledger.names[agent] = name
        self.agents.append(agent)

    async def retry_create(self, rng: random.Random) -> None:
        await self.create(rng, retry=True)

    async def update(self, rng: random.Random) -> None:
        agent = rng.choice(self.agents)
        answer = await self.call("update", "PATCH", f"/api/agents/{agent}", {"name": f"renamed-{self.count}"})
        if answer and answer[0] == 200:
            self.ledger.updates += 1
        elif answer is None or answer[0] >= 500:
            self.ledger.indeterminate += 1

    async def delete(self, rng: random.Random) -> None:
        agent = self.agents.pop(rng.randrange(len(self.agents)))
        self.linked.discard(agent)
        answer = await self.call("delete", "DELETE", f"/api/agents/{agent}")
        if answer and answer[0] == 204:
            self.ledger.deleted.add(agent)
        elif answer is None or answer[0] >= 500:
            self.ledger.indeterminate += 1

    async def nested_link(self, rng: random.Random) -> None:
        unlinked = [a for a in self.agents if a not in self.linked]
        if self.team is None or not unlinked:
            return await self.nested_list(rng)
        agent = rng.choice(unlinked)
        self.linked.add(agent)
        await self.call("nested", "POST", f"/api/teams/{self.team}/agents", {"agent_id": agent})

    async def nested_list(self, rng: random.Random) -> None:
        if self.team is not None:
            await self.call("nested", "GET", f"/api/teams/{self.team}/agents?limit=20")

    async def events(self, rng: random.Random) -> None:
        await self.call("events", "GET", "/api/events?resource=agents&limit=20")


@dataclass
class Stream:
    """One event-stream subscriber: the ids of the agents it saw created."""

    user: str
    created: set[str] = field(default_factory=set)
    events: int = 0
    last_id: str | None = None
    connects: int = 0
    failures: Counter = field(default_factory=Counter)


async def follow_stream(stream: Stream, token: str, base: str, session: aiohttp.ClientSession, stop: asyncio.Event):
    """Read /api/events/stream until `stop`, reconnecting with Last-Event-ID as a browser would."""
    while not stop.is_set():
        headers = {"Authorization": f"Bearer {token}", **({"Last-Event-ID": stream.last_id} if stream.last_id else {})}
        try:
            async with session.get(
                base + "/api/events/stream?resources=agents", headers=headers, timeout=aiohttp.ClientTimeout(total=None)
            ) as response:
                if response.status != 200:
                    stream.failures[response.status] += 1
                    await asyncio.sleep(0.5)
                    continue
                stream.connects += 1
                await _read_events(stream, response, stop)
        except (aiohttp.ClientError, TimeoutError) as exc:
            stream.failures[type(exc).__name__] += 1
            await asyncio.sleep(0.2)


async def _read_events(stream: Stream, response: aiohttp.ClientResponse, stop: asyncio.Event) -> None:
    event: dict[str, str] = {}
    while not stop.is_set():
        try:
            line = await asyncio.wait_for(response.content.readline(), timeout=0.5)
        except TimeoutError:
            continue
        if not line:
            return
        text = line.decode().rstrip("\n")
        if text == "" and event:
            stream.events += 1
            stream.last_id = event.get("id", stream.last_id)
            if event.get("event") == "agents.created":
                stream.created.add(orjson.loads(event["data"])["record_id"])
            event = {}
        elif not text.startswith(":") and ":" in text:
            name, _, value = text.partition(":")
            event[name] = value.removeprefix(" ")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    base: str,
    tokens: dict[str, str],
    stream_tokens: dict[str, str],
    seconds: float,
    seed: int = 1,
) -> tuple[Ledger, Stats, list[Stream], float]:
    """Drive every user for `seconds`; returns the ledger, the stats, the streams and the elapsed time."""
    ledger, stats, stop = Ledger(), Stats(), asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        streams = [Stream(user) for user in stream_tokens]
        followers = [asyncio.create_task(follow_stream(s, stream_tokens[s.user], base, session, stop)) for s in streams]
        users = [VirtualUser(name, token, base, session, ledger, stats) for name, token in tokens.items()]
        await asyncio.gather(*(u.setup() for u in users))
        started = time.perf_counter()
        deadline = started + seconds

        async def drive(user: VirtualUser, rng: random.Random) -> None:
            while time.perf_counter() < deadline:
                await user.step(rng)

        await asyncio.gather(*(drive(u, random.Random(seed * 1000 + i)) for i, u in enumerate(users)))
        elapsed = time.perf_counter() - started
        await _drain(streams, ledger)
        stop.set()
        await asyncio.gather(*followers)
    return ledger, stats, streams, elapsed


async def _drain(streams: list[Stream], ledger: Ledger, seconds: float = 15.0) -> None:
    """Give the streams a bounded time to deliver the last events."""
    give_up = time.perf_counter() + seconds
    while time.perf_counter() < give_up:
        if all(_expected(s, ledger) <= s.created for s in streams):
            return
        await asyncio.sleep(0.2)


def _expected(stream: Stream, ledger: Ledger) -> set[str]:
    return {agent for agent, owner in ledger.created.items() if owner == stream.user}


async def reconcile(
    conn: asyncpg.Connection, ledger: Ledger, streams: list[Stream], users: list[str]
) -> dict[str, Any]:
    """Nothing-lost figures from the database; every count but `indeterminate` must be 0 or equal."""
    rows = await conn.fetch(  # agents are soft-deleted (resources.yaml): a deleted one is not live
        "SELECT id::text AS id, user_id, name FROM agents WHERE user_id = ANY($1) AND deleted_at IS NULL", users
    )
    by_id = {r["id"]: r for r in rows}
    live = {a: owner for a, owner in ledger.created.items() if a not in ledger.deleted}
    names = Counter(ledger.names[r["id"]] for r in rows if r["id"] in ledger.names)
    events = await conn.fetch(
        "SELECT action, count(*) AS n FROM _engine_events"
        " WHERE resource = 'agents' AND actor = ANY($1) GROUP BY action",
        users,
    )
    counted = {r["action"]: r["n"] for r in events}
    return {
        "acked_creates": len(ledger.created),
        "acked_updates": ledger.updates,
        "acked_deletes": len(ledger.deleted),
        "lost": sum(1 for a in live if a not in by_id),
        "wrong_owner": sum(1 for a, owner in live.items() if a in by_id and by_id[a]["user_id"] != owner),
        "deleted_but_present": sum(1 for a in ledger.deleted if a in by_id),
        "retried_posts": ledger.retries,
        "duplicates": sum(n - 1 for n in names.values() if n > 1) + len(ledger.retry_mismatches),
        "unacknowledged_rows": sum(1 for r in rows if r["id"] not in ledger.created),
        "indeterminate": ledger.indeterminate,
        "events_created": counted.get("created", 0),
        "events_updated": counted.get("updated", 0),
        "events_deleted": counted.get("deleted", 0),
        "stream_subscribers": len(streams),
        "stream_events_received": sum(s.events for s in streams),
        "stream_missing": sum(len(_expected(s, ledger) - s.created) for s in streams),
    }


def summary(stats: Stats, elapsed: float, users: int) -> dict[str, Any]:
    everything = [x for values in stats.latencies.values() for x in values]
    total = len(everything)
    server_errors = sum(n for status, n in stats.statuses.items() if status >= 500)
    failed = server_errors + sum(stats.errors.values())
    return {
        "users": users,
        "seconds": round(elapsed, 1),
        "requests": total,
        "requests_per_second": round(total / elapsed, 1) if elapsed else 0,
        "error_rate": round(failed / total, 6) if total else 0,
        "server_errors": server_errors,
        "connection_errors": dict(stats.errors),
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "p50_ms": round(percentile(everything, 0.50) * 1000, 1),
        "p95_ms": round(percentile(everything, 0.95) * 1000, 1),
        "p99_ms": round(percentile(everything, 0.99) * 1000, 1),
        "p99_ms_by_kind": {k: round(percentile(v, 0.99) * 1000, 1) for k, v in sorted(stats.latencies.items())},
    }
