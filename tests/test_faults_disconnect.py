"""Clients that vanish mid-request: every write is all or nothing, and no connection leaks.

Raw sockets send POSTs and close them (a) halfway through the body, (b) after the whole body while
the write's transaction is held open by a test plugin, (c) the same with a TCP reset. Afterwards:
a half-sent body created nothing; each other write either committed with its `created` event or
left neither; every pool connection is idle again and no session is left idle in a transaction.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import orjson
import pytest
from load.notes import SLOW, SlowWrites, orphans, pool_settled, write_spec

from engine.http.keys import POOL

ABORTS = 10  # per way of disconnecting
HOLD_S = 3.0  # long enough for all the writes to be inside their transactions at once


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    return write_spec(tmp_path)


@pytest.fixture
def slow_writes() -> SlowWrites:
    return SlowWrites(HOLD_S)


@pytest.fixture
def engine_plugins(slow_writes):
    return [slow_writes]


@pytest.fixture
def engine_env(engine_env, engine_schema):
    # The schema's name as the connections' application_name: the sessions this test's app left,
    # not those of a test running beside it on the same server.
    return {**engine_env, "ENGINE_DB_APPLICATION_NAME": engine_schema}


def _request(api, ref: str) -> tuple[bytes, bytes]:
    body = orjson.dumps({"ref": ref, "body": SLOW})
    head = (
        f"POST /api/notes HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {api.token('alice')}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


async def _send(api, ref: str, how: str) -> asyncio.StreamWriter:
    server = api.client.server
    _reader, writer = await asyncio.open_connection(server.host, server.port)
    head, body = _request(api, ref)
    writer.write(head + (body[: len(body) // 2] if how == "half-body" else body))
    await writer.drain()
    return writer


def _vanish(writer: asyncio.StreamWriter, how: str) -> None:
    if how == "reset":
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def _inside_transactions(slow_writes: SlowWrites, count: int) -> bool:
    """Every write has entered its transaction (polled for a bounded time)."""
    for _ in range(200):
        if slow_writes.started >= count:
            return True
        await asyncio.sleep(0.05)
    return False


async def _all_writes_finished(slow_writes: SlowWrites) -> bool:
    for _ in range(100):
        if slow_writes.finished == slow_writes.started:
            return True
        await asyncio.sleep(0.1)
    return False


async def _no_session_left_in_a_transaction(api, within: float = 5.0) -> bool:
    """No server session of the engine idle in a transaction. Through PgBouncer (TEST_PGBOUNCER), a
    cancelled transaction's server connection is closed by the pooler after the engine let go of it,
    so the server may show it for a moment: wait for it to go, bounded."""
    query = (
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1"
        " AND state LIKE 'idle in transaction%' AND datname = current_database()"
    )
    deadline = asyncio.get_running_loop().time() + within
    while (await api.sql(query, api.schema))[0]["n"]:
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@pytest.mark.parametrize("how", ["half-body", "after-body", "reset"])
async def test_client_disconnect_mid_write_leaves_all_or_nothing_and_no_leak(api, slow_writes, how):
    alice = await api.as_user("alice")
    writers = await asyncio.gather(*[_send(api, f"{how}-{i}", how) for i in range(ABORTS)])
    if how != "half-body":
        assert await _inside_transactions(slow_writes, ABORTS), "the writes never reached their transaction"
    for writer in writers:
        _vanish(writer, how)
    assert await _all_writes_finished(slow_writes)
    assert await pool_settled(api.app[POOL])
    assert await orphans(api) == (0, 0), "a row without its event or an event without its row"
    rows = await api.sql("SELECT count(*) AS n FROM notes")
    if how == "half-body":
        assert rows[0]["n"] == 0, "a request whose body never fully arrived created a row"
    assert await _no_session_left_in_a_transaction(api)
    print(f"{how}: {ABORTS} aborted, {rows[0]['n']} committed with their event, 0 orphans, pool settled")
    assert (await alice.post("/api/notes", json={"ref": f"{how}-after"})).status == 201
