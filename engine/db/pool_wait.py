"""A bound on how long a request waits for a free database connection: then 503 with Retry-After.

asyncpg waits forever by default, so a saturated pool would turn every new request into a hang.
The pool (engine.db.pool.EnginePool) applies the bound in its acquire, which every query path
(`pool.fetch`, `async with pool.acquire()`) goes through.
"""

from __future__ import annotations

import asyncpg

from engine.kernel.errors import ServiceUnavailable

RETRY_AFTER = "1"


class PoolExhausted(ServiceUnavailable):
    """Every database connection stayed busy for the whole wait."""


def _exhausted(seconds: float) -> PoolExhausted:
    return PoolExhausted(
        f"no database connection became free within {seconds:g} s; retry shortly",
        headers={"Retry-After": RETRY_AFTER},
    )


def bound_pool_wait(pool: asyncpg.Pool, seconds: float) -> None:
    """From now on, `pool.acquire()` waits at most `seconds`, then raises PoolExhausted (503)."""
    pool.bound_wait(seconds, _exhausted)
