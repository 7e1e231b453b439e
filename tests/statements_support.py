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
    seen: list[str] = []

    def log(record) -> None:
        seen.append(record.query)

    async with api.app[POOL].acquire() as conn:
        conn.add_query_logger(log)
    try:
        result = await send()
        assert result.status in (200, 201), result.text
        await asyncio.sleep(0)
    finally:
        async with api.app[POOL].acquire() as conn:
            conn.remove_query_logger(log)
    return [q for q in seen if any(w in q for w in writes)]
