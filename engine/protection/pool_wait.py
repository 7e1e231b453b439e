"""A bound on how long a request waits for a free database connection: then 503 with Retry-After.

asyncpg waits forever by default, so a saturated pool would turn every new request into a hang.
The pool object is given a subclass of its own class whose `acquire` has a default timeout; every
query path (`pool.fetch`, `async with pool.acquire()`) goes through `acquire`.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import asyncpg

from ..errors import ServiceUnavailable

RETRY_AFTER = "1"


class PoolExhausted(ServiceUnavailable):
    """Every database connection stayed busy for the whole wait."""


def _exhausted(seconds: float) -> PoolExhausted:
    return PoolExhausted(
        f"no database connection became free within {seconds:g} s; retry shortly",
        headers={"Retry-After": RETRY_AFTER},
    )


class _BoundedAcquire:
    """Wraps the pool's acquire context: same use (`await` or `async with`), typed timeout."""

    __slots__ = ("_context", "_seconds")

    def __init__(self, context: Any, seconds: float):
        self._context = context
        self._seconds = seconds

    async def __aenter__(self) -> Any:
        try:
            async with asyncio.timeout(self._seconds):
                return await self._context.__aenter__()
        except TimeoutError:
            raise _exhausted(self._seconds) from None

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._context.__aexit__(*exc)

    def __await__(self):
        return self._acquire().__await__()

    async def _acquire(self) -> Any:
        try:
            async with asyncio.timeout(self._seconds):
                return await self._context
        except TimeoutError:
            raise _exhausted(self._seconds) from None


@functools.cache
def _bounded_class(base: type, seconds: float) -> type:
    def acquire(self: asyncpg.Pool, *, timeout: float | None = None) -> _BoundedAcquire:
        # The wait is bounded here, with asyncio.timeout: asyncpg's own timeout runs every acquire
        # in a task of its own (wait_for), a cost on every query even when a connection is free.
        wait = seconds if timeout is None else timeout
        return _BoundedAcquire(base.acquire(self), wait)

    return type(f"Bounded{base.__name__}", (base,), {"__slots__": (), "acquire": acquire, "acquire_timeout": seconds})


def bound_pool_wait(pool: asyncpg.Pool, seconds: float) -> None:
    """From now on, `pool.acquire()` waits at most `seconds`, then raises PoolExhausted (503)."""
    base = type(pool)
    if getattr(base, "acquire_timeout", None) is not None:
        base = base.__mro__[1]  # already bounded (app restarted in-process): rebound from the original
    pool.__class__ = _bounded_class(base, seconds)
