"""Failed authentication per client: a token bucket that only refused credentials drain.

A request whose credentials authentication refuses (a 401 before any handler runs: a bad, expired
or forged token, an unknown API key) takes one token from the client's bucket (the client
address, X-Forwarded-For only from ENGINE_TRUSTED_PROXIES). ENGINE_AUTH_FAILURE_LIMIT sets the
rate (default 30/minute, `off` disables). Beyond it, the client gets 429 with Retry-After and the
RateLimit headers, and until then every request of that client that carries credentials
(an Authorization or Cookie header) is refused *before* they are checked, so a guess that would
have been right is refused too and guessing gains nothing from speed.

Buckets are the rate limiter's (engine.features.rate_limit.buckets): in the worker, or in Redis
where every worker shares them. The refusal until Retry-After is remembered by the worker that
answered 429; another worker learns it from the shared bucket on the client's next failure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from cachetools import LRUCache

from engine.db.redis import redis_down
from engine.features.rate_limit.buckets import BucketStore, Decision
from engine.features.rate_limit.rates import Rate
from engine.http.client_ip import ClientAddress
from engine.http.keys import IDENTITY
from engine.kernel.config import Config
from engine.kernel.errors import TooManyRequests, Unauthorized

DEFAULT_LIMIT = "30/minute"
CREDENTIAL_HEADERS = ("Authorization", "Cookie")


def failure_rate(config: Config) -> Rate | None:
    """ENGINE_AUTH_FAILURE_LIMIT in the format of ENGINE_RATE_LIMIT; None when `off`."""
    return config.value("ENGINE_AUTH_FAILURE_LIMIT")


@dataclass
class AuthFailureLimiter:
    rate: Rate
    client: ClientAddress
    store: BucketStore
    store_failed: Callable[[BaseException], None]  # the rate limiter's policy: log, or 503 (fail closed)
    blocked: LRUCache[str, float] = field(default_factory=lambda: LRUCache(maxsize=100_000))  # key -> until

    def key(self, request: web.Request) -> str:
        return f"auth-failures|ip:{self.client.of(request)}"

    def refuse_if_blocked(self, request: web.Request) -> None:
        """429 for a client over its limit, before its credentials are looked at."""
        key = self.key(request)
        until = self.blocked.get(key)
        if until is None:
            return
        wait = until - time.monotonic()
        if wait <= 0:
            del self.blocked[key]
            return
        self._refuse(Decision(False, self.rate.limit, 0, math.ceil(wait), max(1, math.ceil(wait))))

    async def failed(self, request: web.Request, problem: Unauthorized) -> None:
        """Count one failure; 429 instead of the 401 when the bucket is empty."""
        try:
            decision = await self.store.take(self.key(request), self.rate)
        except redis_down() as exc:
            self.store_failed(exc)
            return
        if not decision.allowed:
            self.blocked[self.key(request)] = time.monotonic() + decision.retry_after
            self._refuse(decision)
        problem.headers = {**problem.headers, **decision.headers()}  # a copy: callers may share header dicts

    def _refuse(self, decision: Decision) -> None:
        raise TooManyRequests(
            f"too many failed sign-in attempts from your address: the limit is {self.rate.text}; "
            f"retry in {decision.retry_after} s",
            headers={"Retry-After": str(decision.retry_after), **decision.headers()},
        )


AUTH_FAILURES = web.AppKey("auth_failure_limiter", AuthFailureLimiter)


def carries_credentials(request: web.Request) -> bool:
    return any(name in request.headers for name in CREDENTIAL_HEADERS)


@web.middleware
async def auth_failures(request: web.Request, handler) -> web.StreamResponse:
    """Outside authentication: sees its 401 (raised before request[IDENTITY] is set)."""
    limiter = request.app.get(AUTH_FAILURES)
    if limiter is None or not carries_credentials(request):
        return await handler(request)
    limiter.refuse_if_blocked(request)
    try:
        return await handler(request)
    except Unauthorized as problem:
        if IDENTITY not in request:  # refused by authentication, not a handler's own 401 later on
            await limiter.failed(request, problem)
        raise
