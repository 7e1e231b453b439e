"""The delivery loop every worker process runs: enqueue new events, claim due deliveries, attempt them.

Enqueueing follows the events outbox (features/events) from a durable cursor named ``webhooks``:
each step runs in one transaction under a transaction-scoped advisory lock, reads the settled
events after the cursor, inserts one delivery per matching enabled endpoint and moves the cursor.
So each event is enqueued exactly once per endpoint, whichever worker takes the step, and a crash
only rolls the step back. The outbox itself is written in the change's own transaction, so every
committed change reaches the queue. Delivery then claims due rows with ``SKIP LOCKED`` and a lease
(store.py): any worker delivers, none twice at once, and a worker killed mid-attempt leaves its
rows to be retried when their lease ends.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from sqlglot import exp

from engine.features.events import positions
from engine.features.events.payload import Event
from engine.features.events.tables import CURSORS, HORIZON, SELECT_AFTER
from engine.features.secrets.keys import FieldKeys, Undecryptable
from engine.features.webhooks import store
from engine.features.webhooks.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_ENDPOINTS_DISABLED
from engine.features.webhooks.secrets import unseal
from engine.features.webhooks.sender import Outcome, Sender
from engine.sql.compiled import compile_expression
from engine.sql.ddl import render

log = logging.getLogger("engine.webhooks")
CURSOR = "webhooks"
MAX_BACKOFF = 3600.0  # seconds: retries are at least hourly, however many came before
LEASE_SECONDS = 1.0  # past twice the attempt's timeout, another worker may try a claimed delivery again
ENQUEUE_BATCH = 500
IDLE_SKIP_EVERY = 30.0  # seconds: how often an idle worker moves the cursor past events no endpoint wants
_SKIP_FORWARD = store.skip_forward(CURSORS, render(HORIZON))
_LOCK_KEY = 0x5E5E0A0B
_TRY_LOCK = compile_expression(
    exp.select(
        exp.Anonymous(
            this="pg_try_advisory_xact_lock",
            expressions=[
                exp.Literal.number(_LOCK_KEY),
                exp.Anonymous(this="hashtext", expressions=[exp.Anonymous(this="current_schema", expressions=[])]),
            ],
        )
    )
)


@dataclass(frozen=True)
class WebhookSettings:
    retry_backoff: float
    retry_period: float
    disable_after: int
    timeout: float
    max_response: int
    allow_hosts: tuple[str, ...]
    poll_interval: float
    concurrency: int
    keys: FieldKeys | None = None  # open the stored signing secrets (secrets.py)


def backoff(settings: WebhookSettings, attempts: int) -> float:
    """The first delay doubled per attempt (at most an hour), with jitter: between half and all of it."""
    delay = min(settings.retry_backoff * 2 ** (attempts - 1), MAX_BACKOFF)
    return delay / 2 + random.uniform(0, delay / 2)


def matches(endpoint: asyncpg.Record, event: Event) -> bool:
    """The endpoint's resources (or ``*``) and actions name the event, and its filter holds on the data;
    the change was made after the endpoint was registered."""
    if event.at < endpoint["created_at"]:
        return False
    if event.resource not in endpoint["resources"] and "*" not in endpoint["resources"]:
        return False
    if event.action not in endpoint["actions"]:
        return False
    wanted = endpoint["filter"] or {}
    return all(
        event.data.get(name) in value if isinstance(value, list) else event.data.get(name) == value
        for name, value in wanted.items()
    )


def body_of(event: Event) -> str:
    """The JSON body sent for an event: the Standard Webhooks envelope around the documented event."""
    data = orjson.loads(event.json)
    return orjson.dumps({"type": event.name, "timestamp": data["at"], "data": data}).decode()


class Worker:
    """One process's share of the work; `run` until cancelled."""

    def __init__(self, pool: asyncpg.Pool, settings: WebhookSettings):
        self.pool, self.settings = pool, settings
        self.sender = Sender(settings.allow_hosts, settings.timeout, settings.max_response)
        self.wake = asyncio.Event()
        self.skipped_at = -IDLE_SKIP_EVERY

    async def start(self) -> None:
        await positions.init_cursor(self.pool, CURSOR)

    async def run(self) -> None:
        inflight: set[asyncio.Task] = set()
        try:
            while True:
                free = self.settings.concurrency - len(inflight)
                try:
                    claimed = await self.step(free)
                except Exception as exc:  # the database went away, or worse: keep the loop alive, say so
                    log.warning("webhook delivery paused: %r; trying again shortly", exc)
                    claimed = []
                inflight |= {asyncio.create_task(self.attempt(row)) for row in claimed}
                await self._pause(inflight)
                inflight = {task for task in inflight if not task.done()}
        finally:
            for task in inflight:  # their leases run out and another attempt follows (at least once)
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)
            await self.sender.close()

    async def _pause(self, inflight: set[asyncio.Task]) -> None:
        """Until an attempt ends, a wake-up, or the poll interval."""
        waker = asyncio.create_task(self.wake.wait())
        try:
            await asyncio.wait({*inflight, waker}, timeout=self.settings.poll_interval, return_when="FIRST_COMPLETED")
        finally:
            waker.cancel()
            self.wake.clear()

    async def step(self, free: int) -> list[asyncpg.Record]:
        """Enqueue and claim; with no endpoint enabled, one cheap statement (and now and then a skip)."""
        if not await self.pool.fetchval(store.ANY_ENABLED.sql):
            now = asyncio.get_running_loop().time()
            if now - self.skipped_at >= IDLE_SKIP_EVERY:
                await self.pool.execute(_SKIP_FORWARD.sql, *_SKIP_FORWARD.args({"name": CURSOR}))
                self.skipped_at = now
            return []
        await self.enqueue()
        return await self.claim(free) if free > 0 else []

    async def enqueue(self) -> int:
        """One step along the outbox: the settled events after the cursor become deliveries."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(_TRY_LOCK.sql):
                return 0  # another worker is taking this step
            position = await positions.load_cursor(conn, CURSOR)
            if position is None:
                await positions.init_cursor(conn, CURSOR)
                return 0
            rows = await conn.fetch(SELECT_AFTER.sql, *SELECT_AFTER.args(positions.after(position, ENQUEUE_BATCH)))
            events, _ = positions.settled(rows)
            if not events:
                return 0
            endpoints = await conn.fetch(store.ENABLED_ENDPOINTS.sql)
            queued = [
                (endpoint["id"], event.id, event.name, body_of(event))
                for event in events
                for endpoint in endpoints
                if matches(endpoint, event)
            ]
            if queued:
                await conn.executemany(store.ENQUEUE.sql, queued)
            await positions.save_cursor(conn, CURSOR, events[-1].position)
            return len(queued)

    async def claim(self, limit: int) -> list[asyncpg.Record]:
        values = {"lease": 2 * self.settings.timeout + LEASE_SECONDS, "limit": limit}
        return await self.pool.fetch(store.CLAIM.sql, *store.CLAIM.args(values))

    async def attempt(self, row: asyncpg.Record) -> None:
        """One attempt; if its outcome cannot be written, the lease ends and the delivery is tried again."""
        try:
            try:
                secret = unseal(row["secret"], self.settings.keys)
            except Undecryptable as exc:  # the keys changed without the old one: say so, retry later
                outcome = Outcome(None, f"the signing secret cannot be decrypted: {exc} (see ENGINE_FIELD_KEYS)")
            else:
                outcome = await self.sender.send(row["url"], secret, str(row["id"]), row["body"])
            await self.record(row, outcome)
        except Exception as exc:
            log.warning(
                "webhook delivery %s: the attempt's outcome was not recorded (%r); it will be retried", row["id"], exc
            )

    async def record(self, row: asyncpg.Record, outcome: Outcome) -> None:
        """Write the attempt's outcome: delivered, retried later, or dead-lettered; count the endpoint's failures."""
        values: dict[str, Any] = {"id": row["id"], "attempts": row["attempts"], "code": outcome.status}
        if outcome.ok:
            WEBHOOK_ATTEMPTS.labels(outcome="succeeded").inc()
            await self.pool.execute(store.SUCCEEDED.sql, *store.SUCCEEDED.args(values))
            await self.pool.execute(store.ENDPOINT_OK.sql, *store.ENDPOINT_OK.args({"id": row["endpoint_id"]}))
            return
        values["error"] = outcome.error
        delay = backoff(self.settings, row["attempts"])
        elapsed = (datetime.now(UTC) - row["retry_from"]).total_seconds()
        if elapsed + delay > self.settings.retry_period:
            WEBHOOK_ATTEMPTS.labels(outcome="failed").inc()
            await self.pool.execute(store.DEAD.sql, *store.DEAD.args(values))
            log.warning(
                "webhook delivery %s failed for good after %d attempt(s): %s", row["id"], row["attempts"], outcome.error
            )
        else:
            WEBHOOK_ATTEMPTS.labels(outcome="retried").inc()
            await self.pool.execute(store.RETRY.sql, *store.RETRY.args({**values, "delay": delay}))
        await self.endpoint_failed(row["endpoint_id"])

    async def endpoint_failed(self, endpoint_id: Any) -> None:
        values = {"id": endpoint_id, "limit": self.settings.disable_after}
        state = await self.pool.fetchrow(store.ENDPOINT_FAILED.sql, *store.ENDPOINT_FAILED.args(values))
        if state is not None and state["just_disabled"]:
            WEBHOOK_ENDPOINTS_DISABLED.inc()
            log.warning(
                "webhook endpoint %s disabled after %d consecutive failed attempts; "
                'PATCH /api/webhooks/%s {"enabled": true} to resume',
                endpoint_id,
                self.settings.disable_after,
                endpoint_id,
            )
