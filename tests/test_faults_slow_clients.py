"""Clients that send their body a byte at a time cannot hold the server: the deadline ends them.

Twenty raw connections send a POST's headers and then trickle its body. Each must get an answer
(504 problem) or be closed by ENGINE_REQUEST_TIMEOUT instead of being held open, and meanwhile
ordinary requests keep succeeding.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from load.notes import write_spec

SLOW_CLIENTS = 20
DEADLINE_S = 1.5
CLIENT_PATIENCE_S = 15  # far beyond the deadline: a connection still silent then is held open


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    return write_spec(tmp_path)


@pytest.fixture
def engine_env(engine_env):
    return {**engine_env, "ENGINE_REQUEST_TIMEOUT": str(DEADLINE_S)}


async def _trickle(api, stop: asyncio.Event) -> bytes:
    """Send headers, then one body byte every 0.3 s; return what the server answered (b"" if it closed)."""
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        (
            f"POST /api/notes HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {api.token('mallory')}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        ).encode()
    )

    async def send() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                await asyncio.sleep(0.3)
                writer.write(b" ")
                await writer.drain()

    sender = asyncio.create_task(send())
    try:
        async with asyncio.timeout(CLIENT_PATIENCE_S):
            return await reader.read(4096)
    finally:
        sender.cancel()
        writer.close()


async def test_slow_bodies_are_cut_at_the_deadline_while_others_are_served(api):
    alice = await api.as_user("alice")
    stop = asyncio.Event()
    slow = [asyncio.create_task(_trickle(api, stop)) for _ in range(SLOW_CLIENTS)]
    served = [(await alice.post("/api/notes", json={"ref": f"ok-{i}"})).status for i in range(5)]
    answers = await asyncio.gather(*slow)
    stop.set()
    assert served == [201] * 5
    assert all(a.startswith(b"HTTP/1.1 504") or a == b"" for a in answers), {a[:40] for a in answers}
    assert await api.sql("SELECT ref FROM notes WHERE ref NOT LIKE 'ok-%'") == []
