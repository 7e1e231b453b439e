"""Which statements a request runs: a query logger on the app's one pooled connection.

Tests using it set ENGINE_POOL_MIN_SIZE and ENGINE_POOL_SIZE to 1 (their `engine_env`), so the
logger sees every statement the server runs for the request.
"""

from __future__ import annotations

import asyncio

from engine.http.keys import POOL

WRITES = ('INSERT INTO "agents"', 'UPDATE "agents"', 'DELETE FROM "agents"')


async def statements_of(api, send, writes: tuple[str, ...] = WRITES) -> list[str]:
    """The statements the server ran while answering `send()` that write to the agents table
    (or that contain one of `writes`)."""
    return [q for q in await logged_statements(api, send) if any(w in q for w in writes)]


async def logged_statements(api, send) -> list[str]:
    """Every statement the pool's connection ran while the server answered `send()` (a 200 or 201)."""
    return [query for query, _ in await logged_with_args(api, send)]


async def logged_with_args(api, send) -> list[tuple[str, tuple]]:
    """`logged_statements` with each statement's arguments."""
    seen: list[tuple[str, tuple]] = []

    def log(record) -> None:
        seen.append((record.query, record.args))

    async with api.app[POOL].acquire() as conn:
        conn.add_query_logger(log)
    try:
        result = await send()
        assert result.status in (200, 201), result.text
        await asyncio.sleep(0)  # loggers run soon after each statement, not inside it
    finally:
        async with api.app[POOL].acquire() as conn:
            conn.remove_query_logger(log)
    return seen
