"""`one_connection()`: a task's statements share one pooled connection while the block is open.

A read that embeds related rows runs one statement per include level; inside the block they take
one connection instead of an acquire and a release each (engine/http/handlers.py uses it for reads
and lists with `include=`).
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from engine.db.pool import create_pool, one_connection

BACKEND = "select pg_backend_pid()"


@pytest.fixture
async def pool(engine_database_url):
    pool = await create_pool(engine_database_url, min_size=0, max_size=3, statement_timeout_ms=10_000)
    yield pool
    await pool.close()


async def free(pool) -> int:
    """Connections not handed out (idle ones and the slots not yet connected)."""
    return pool.get_max_size() - pool.get_size() + pool.get_idle_size()


async def test_statements_in_the_block_run_on_one_connection(pool):
    async with one_connection():
        first = await pool.fetchval(BACKEND)
        async with pool.acquire() as conn:
            second = await conn.fetchval(BACKEND)
        third = await pool.fetchval(BACKEND)
        assert await free(pool) == 2  # held between the statements

    assert first == second == third


async def test_the_connection_goes_back_to_the_pool_when_the_block_ends(pool):
    async with one_connection():
        await pool.fetchval(BACKEND)

    assert await free(pool) == 3


async def test_the_connection_goes_back_when_the_block_raises(pool):
    with pytest.raises(RuntimeError):
        async with one_connection():
            await pool.fetchval(BACKEND)
            raise RuntimeError("the handler failed")

    assert await free(pool) == 3


async def test_a_failing_statement_gives_its_connection_back_at_once(pool):
    async with one_connection():
        with pytest.raises(asyncpg.DivisionByZeroError):
            await pool.fetchval("select 1 / 0")
        assert await free(pool) == 3  # the next statement starts on a fresh connection
        assert await pool.fetchval("select 2") == 2


async def test_a_nested_acquire_gets_a_connection_of_its_own(pool):
    async with one_connection(), pool.acquire() as outer, pool.acquire() as inner:
        assert await outer.fetchval(BACKEND) != await inner.fetchval(BACKEND)

    assert await free(pool) == 3


async def test_other_tasks_get_connections_of_their_own(pool):
    """gather's children inherit the block's context, but run at the same time: sharing would make
    asyncpg refuse the second statement ("another operation is in progress")."""
    async with one_connection():
        mine = await pool.fetchval(BACKEND)
        theirs = await asyncio.gather(
            pool.fetchval("select pg_backend_pid() from pg_sleep(0.05)"),
            pool.fetchval("select pg_backend_pid() from pg_sleep(0.05)"),
        )

    assert len({mine, *theirs}) == 3
    assert await free(pool) == 3


async def test_an_awaited_acquire_is_the_callers_to_release(pool):
    async with one_connection():
        shared = await pool.fetchval(BACKEND)
        conn = await pool.acquire()
        try:
            assert await conn.fetchval(BACKEND) != shared
        finally:
            await pool.release(conn)

    assert await free(pool) == 3


async def test_a_transaction_in_the_block_commits_on_the_shared_connection(pool):
    async with one_connection():
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("create temporary table shared_probe (x int)")
            await conn.execute("insert into shared_probe values (1)")
        assert await pool.fetchval("select count(*) from shared_probe") == 1  # same session: its temp table
        await pool.execute("drop table shared_probe")
