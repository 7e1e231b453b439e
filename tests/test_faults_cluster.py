"""A worker killed (SIGKILL) under write load: the other worker keeps serving and nothing acked is lost.

`resource-engine serve --workers 2` takes POSTs from several writers, each on a new connection
and with an Idempotency-Key. One worker is killed mid-load; its in-flight requests are dropped
(indeterminate). Each dropped or 5xx write is then retried with the same key and body, as a
client would: the retry must succeed (replayed or done now), and afterwards every key exists
exactly once, with exactly one `created` event.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time

import aiohttp
import pytest
from load.ledger import Ledger
from load.notes import orphans, write_spec
from load.server import Server

from engine.features.metrics.processes import cluster_pids
from engine.testing import TEST_JWT_SECRET

WRITERS = 6
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=30)
STALE_CLAIM_S = 60  # engine/features/idempotency/plugin.py: a claim this old lost its request


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    return write_spec(tmp_path)


@pytest.fixture
async def cluster(api, engine_database_url, engine_schema, engine_spec_path):
    """Two workers on the test schema (its tables made by the `api` fixture)."""
    env = {
        "DATABASE_URL": engine_database_url,
        "ENGINE_DB_SCHEMA": engine_schema,
        "ENGINE_JWT_SECRET": TEST_JWT_SECRET,
        "ENGINE_AUTO_MIGRATE": "true",
        "ENGINE_LOG_LEVEL": "WARNING",
    }
    server = Server(engine_spec_path, env, workers=2)
    try:
        await asyncio.to_thread(server.wait_ready)
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def _post(session, base: str, token: str, ref: str) -> tuple[int | None, object, object]:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": ref}
    try:
        async with session.post(f"{base}/api/notes", json={"ref": ref}, headers=headers, timeout=CLIENT_TIMEOUT) as r:
            body = await r.json(content_type=None)
            return r.status, body, r.headers
    except aiohttp.ClientError as exc:
        return None, repr(exc), None


async def _writer(base: str, token: str, ledger: Ledger, refs, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        while not stop.is_set():
            ref = next(refs)
            started = time.perf_counter()
            status, body, headers = await _post(session, base, token, ref)
            ledger.record(ref, status, body, headers, time.perf_counter() - started)


async def _retry_indeterminate(base: str, token: str, ledger: Ledger, api) -> list[str]:
    """Retry each unacknowledged write with its key until it is settled; what the retries got.

    A 201 (replayed, or run now) settles it. A 409 means an earlier request holds the key: if its
    row exists, that request committed before its worker died and the engine cannot replay the
    lost response (settled, the row is there); otherwise the dead request's claim is released once
    stale (ENGINE_REQUEST_TIMEOUT x 2, at least 60 s) and a later retry runs it.
    """
    seen = []
    async with aiohttp.ClientSession() as session:
        for ref in sorted(ledger.indeterminate):
            give_up = time.monotonic() + STALE_CLAIM_S + 30
            while time.monotonic() < give_up:
                status, body, headers = await _post(session, base, token, ref)
                replayed = headers is not None and headers.get("Idempotent-Replayed") == "true"
                seen.append(f"{status}{' replayed' if replayed else ''}")
                if status == 201:
                    ledger.acked[ref] = body["data"]
                    break
                if status == 409 and await api.sql("SELECT 1 FROM notes WHERE ref = $1", ref):
                    ledger.acked[ref] = {"ref": ref}  # committed; its response is not replayable
                    break
                await asyncio.sleep(1.0)
    return seen


async def test_a_killed_worker_loses_no_acknowledged_write_and_retries_make_no_duplicate(cluster, api):
    token = api.token("alice")
    ledger, stop = Ledger(), asyncio.Event()
    refs = (f"k{i}" for i in itertools.count())
    writers = [asyncio.create_task(_writer(cluster.base, token, ledger, refs, stop)) for _ in range(WRITERS)]
    await asyncio.sleep(1.5)
    os.kill(cluster_pids(cluster.process.pid)[1], signal.SIGKILL)
    acked_before = len(ledger.acked)
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.gather(*writers)
    assert len(ledger.acked) > acked_before, "no write succeeded after the kill: the other worker stopped serving"
    retried = await _retry_indeterminate(cluster.base, token, ledger, api)
    assert all(ref in ledger.acked for ref in ledger.indeterminate), f"retries never succeeded: {retried}"
    rows = await api.sql("SELECT ref FROM notes")
    figures = ledger.reconcile([r["ref"] for r in rows])
    print(f"figures: {figures} statuses: {dict(ledger.statuses)} retries: {retried}")
    assert (figures["lost"], figures["duplicates"], figures["phantoms"]) == (0, 0, 0), figures
    assert set(ledger.statuses) <= {201, 503, "dropped"}, ledger.statuses
    assert await orphans(api) == (0, 0)
