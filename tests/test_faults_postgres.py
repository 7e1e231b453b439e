"""PostgreSQL goes away under load: the engine answers 503 fast, heals itself, and loses nothing acked.

Each test runs the engine against its own throwaway PostgreSQL (tests/load/pg.py), never the
shared server. Writers keep posting rows with unique client references while the fault happens;
afterwards every acknowledged (2xx) write must exist exactly once, with exactly one `created`
event, and the engine must serve writes again without being restarted.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from load.ledger import Ledger, timed_write
from load.notes import orphans, write_spec
from load.pg import ThrowawayPostgres

REQUEST_TIMEOUT = 5  # ENGINE_REQUEST_TIMEOUT: no request may take longer (plus the margin below)
CLIENT_TIMEOUT = REQUEST_TIMEOUT + 10  # a request still unanswered by then is a hang
WRITERS = 6
RECOVERY_ATTEMPTS = 60  # x 0.5 s


@pytest.fixture(scope="module")
def throwaway_pg():
    with ThrowawayPostgres() as pg:
        yield pg


@pytest.fixture(scope="module")
def engine_database_url(throwaway_pg) -> str:
    return throwaway_pg.url


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    return write_spec(tmp_path)


@pytest.fixture
def engine_env(engine_env):
    return {
        **engine_env,
        "ENGINE_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
        "ENGINE_POOL_TIMEOUT": "2",
        "ENGINE_POOL_SIZE": "4",
    }


async def _write_until(client, ledger: Ledger, stop: asyncio.Event, refs) -> None:
    while not stop.is_set():
        ref = next(refs)
        await timed_write(client, "/api/notes", {"ref": ref, "body": "x" * 100}, ref, ledger, CLIENT_TIMEOUT)


async def _recovered(client) -> bool:
    """Writes succeed again, with no restart of the engine: polled for a bounded time."""
    for attempt in range(RECOVERY_ATTEMPTS):
        result = await client.post("/api/notes", json={"ref": f"recovery-{attempt}"})
        if result.status == 201:
            return True
        await asyncio.sleep(0.5)
    return False


async def _run_fault(api, fault) -> Ledger:
    """Writers post while `fault()` runs in a thread; they stop once it returned plus a moment."""
    alice = await api.as_user("alice")
    ledger, stop = Ledger(), asyncio.Event()
    refs = (f"w{i}" for i in itertools.count())
    writers = [asyncio.create_task(_write_until(alice, ledger, stop, refs)) for _ in range(WRITERS)]
    await asyncio.sleep(1.0)  # steady state first
    await asyncio.get_running_loop().run_in_executor(None, fault)
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*writers)
    assert await _recovered(alice), "the engine did not serve writes again after PostgreSQL came back"
    return ledger


async def _assert_nothing_lost(api, ledger: Ledger) -> None:
    rows = await api.sql("SELECT ref, id::text AS id FROM notes WHERE ref LIKE 'w%'")
    figures = ledger.reconcile([r["ref"] for r in rows])
    print(f"figures: {figures} statuses: {dict(ledger.statuses)} slowest: {ledger.slowest:.2f} s")
    assert figures["lost"] == 0 and figures["duplicates"] == 0 and figures["phantoms"] == 0, figures
    assert await orphans(api) == (0, 0), "a row without its event or an event without its row"


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_postgres_restart_under_load_answers_503_and_loses_no_acknowledged_write(api, throwaway_pg, mode):
    ledger = await _run_fault(api, lambda: throwaway_pg.restart(mode, down_for=1.5))
    assert not ledger.problems, ledger.problems[:5]
    assert set(ledger.statuses) <= {201, 503, 504}, ledger.statuses
    assert ledger.statuses[503] > 0, f"the outage was never seen: {ledger.statuses}"
    await _assert_nothing_lost(api, ledger)


async def test_terminated_database_connections_are_replaced_without_a_restart(api):
    alice = await api.as_user("alice")
    assert (await alice.post("/api/notes", json={"ref": "before"})).status == 201
    killed = await api.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'resource-engine'"
    )
    assert killed, "the engine had no open connection to terminate"
    statuses = [(await alice.post("/api/notes", json={"ref": f"after-{i}"})).status for i in range(8)]
    assert set(statuses) <= {201, 503}, statuses
    assert await _recovered(alice)


async def test_read_only_database_answers_writes_with_503_and_keeps_serving_reads(api, throwaway_pg):
    alice = await api.as_user("alice")
    assert (await alice.post("/api/notes", json={"ref": "before"})).status == 201
    await api.sql("ALTER SYSTEM SET default_transaction_read_only = on")
    await api.sql("SELECT pg_reload_conf()")
    try:
        await asyncio.sleep(0.5)  # backends apply the reloaded setting between statements
        write = await alice.post("/api/notes", json={"ref": "during"})
        read = await alice.get("/api/notes")
    finally:
        await api.sql("ALTER SYSTEM RESET default_transaction_read_only")
        await api.sql("SELECT pg_reload_conf()")
    assert write.status == 503, write.text
    assert write.headers["Content-Type"].startswith("application/problem+json") and "Retry-After" in write.headers
    assert read.status == 200 and [n["ref"] for n in read.json["data"]] == ["before"]
