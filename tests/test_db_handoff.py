"""The pool serves waiting requests in arrival order: a freed connection never goes to a newcomer.

Without this, a request arriving just as a connection frees takes it ahead of those already
waiting, and under load a few requests wait many times longer than the rest (the p99).
"""

from __future__ import annotations

import asyncio

import pytest

from engine.db.handoff import HandOff
from engine.db.pool import create_pool


class FairLifoQueue(HandOff, asyncio.LifoQueue):
    """The hand-off on a plain queue, as the pool's queue of free connections has it."""


@pytest.fixture
async def one_connection(engine_database_url):
    pool = await create_pool(engine_database_url, min_size=1, max_size=1, statement_timeout_ms=10_000)
    yield pool
    await pool.close()


async def test_a_freed_connection_goes_to_the_waiting_request_not_to_a_newcomer(one_connection):
    pool, served = one_connection, []

    async def waiting_request() -> None:
        async with pool.acquire() as conn:
            served.append(("waiting", await conn.fetchval("select 1")))

    held = await pool.acquire()
    waiting = asyncio.create_task(waiting_request())
    while not pool._queue._getters:  # noqa: ASYNC110 - until it waits for the connection (no event to await)
        await asyncio.sleep(0)
    await pool.release(held)
    async with pool.acquire() as conn:  # the newcomer asks at once, before the waiting task runs
        served.append(("newcomer", await conn.fetchval("select 1")))
    await waiting

    assert served == [("waiting", 1), ("newcomer", 1)]


async def test_a_waiter_cancelled_after_being_handed_an_item_passes_it_to_the_next():
    queue: asyncio.Queue[str] = FairLifoQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # both wait, first in line

    queue.put_nowait("connection")  # handed to `first` ...
    first.cancel()  # ... which is cancelled before it could run

    assert await second == "connection"
    assert first.cancelled() and queue.empty()


async def test_a_free_item_is_taken_at_once_when_nobody_waits():
    queue: asyncio.Queue[str] = FairLifoQueue()
    queue.put_nowait("a")
    queue.put_nowait("b")

    assert [await queue.get(), await queue.get()] == ["b", "a"]  # still last in, first out
