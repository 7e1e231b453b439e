"""Built-in deadlines: no request runs longer than ENGINE_REQUEST_TIMEOUT, none waits forever for
a database connection (ENGINE_POOL_TIMEOUT).

Past the deadline the handler is cancelled, which cancels its running query in PostgreSQL too,
rolls its transaction back, and answers 504 problem. The pool's statement_timeout is lowered to
the deadline, so a query can never outlive the request that started it. Waiting longer than
ENGINE_POOL_TIMEOUT for a connection answers 503 problem with Retry-After.

Long-lived routes (event streams) opt out with `@long_lived` on their handler.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from engine.features.timeouts.timer import DeadlineTimer
from engine.kernel.config import Config
from engine.kernel.errors import GatewayTimeout
from engine.kernel.hooks import hookimpl
from engine.resources.context import PoolSettings
from engine.spec import Spec

log = logging.getLogger("engine.timeouts")


@dataclass(frozen=True)
class Deadlines:
    request: float | None  # seconds; None: no deadline
    pool: float | None  # seconds to wait for a connection; None: wait as long as the deadline allows

    @classmethod
    def from_config(cls, config: Config) -> Deadlines:
        request, pool = config.value("ENGINE_REQUEST_TIMEOUT"), config.value("ENGINE_POOL_TIMEOUT")
        if request is not None and pool is not None and pool >= request:
            log.warning(
                "ENGINE_POOL_TIMEOUT (%gs) is not below ENGINE_REQUEST_TIMEOUT (%gs): "
                "a request will reach its deadline (504) before the pool wait ends (503)",
                pool,
                request,
            )
        return cls(request, pool)

    def statement_timeout_ms(self, configured_ms: int) -> int:
        """The configured statement_timeout, capped at the deadline (0 means none in PostgreSQL)."""
        if self.request is None:
            return configured_ms
        deadline_ms = max(1, int(self.request * 1000))
        return deadline_ms if configured_ms <= 0 else min(configured_ms, deadline_ms)


DEADLINES = web.AppKey("deadlines", Deadlines)
DEADLINE_TIMER = web.AppKey("deadline_timer", DeadlineTimer)
SLICE = 0.05  # seconds: a request is cut at most this early (or a hundredth of a shorter deadline)
LONG_LIVED = "engine_long_lived"


def long_lived(handler):
    """Mark a handler (a stream, a websocket) that may legitimately outlive the request deadline."""
    setattr(handler, LONG_LIVED, True)
    return handler


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    deadlines = app[DEADLINES] = Deadlines.from_config(config)
    app[DEADLINE_TIMER] = DeadlineTimer(min(SLICE, (deadlines.request or SLICE) / 100))


@hookimpl(trylast=True)
def before_pool_open(app: web.Application, settings: PoolSettings) -> None:
    """No query outlives the request deadline, and no request waits past the pool bound."""
    deadlines = app[DEADLINES]
    settings.statement_timeout_ms = deadlines.statement_timeout_ms(settings.statement_timeout_ms)
    if deadlines.pool is not None:
        settings.acquire_timeout = deadlines.pool


@web.middleware
async def deadline(request: web.Request, handler) -> web.StreamResponse:
    deadlines = request.app.get(DEADLINES)
    seconds = deadlines.request if deadlines is not None else None
    if seconds is None or getattr(request.match_info.handler, LONG_LIVED, False):
        return await handler(request)
    timer = request.app[DEADLINE_TIMER].start(seconds)
    try:
        response = await handler(request)
    except asyncio.CancelledError:
        if timer.end():
            raise GatewayTimeout(
                f"the request did not finish within {seconds:g} s and was stopped; an unfinished write was rolled back"
            ) from None
        raise
    except asyncpg.QueryCanceledError:
        timer.end()
        raise GatewayTimeout(
            "a database query ran past its time limit and was stopped; its write was rolled back"
        ) from None
    finally:
        timer.end()  # a no-op when ended above
    return response


@hookimpl(trylast=True)
def register_middlewares():
    return [deadline]
