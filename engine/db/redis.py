"""One Redis client per app for every Redis-backed feature (rate limits, query cache, sessions).

Short socket timeouts and no retries: a Redis that is down must cost a request milliseconds,
after which each plugin applies its own failure policy (fail open or closed, bypass the cache,
503 for sessions). Every command and pipeline goes through a circuit breaker (breaker.py): after
consecutive failures the client fails at once, so an outage costs nothing per request, and
probes Redis again with backoff.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from engine.kernel.config import Config

if TYPE_CHECKING:
    from engine.db.redis_client import GuardedRedis

REDIS: web.AppKey[GuardedRedis] = web.AppKey("protection_redis")

# What a Redis outage looks like to a caller: refused or reset sockets, timeouts, and once a client
# exists (and so the redis package is loaded), the client's own errors.
_DOWN: list[tuple[type[BaseException], ...]] = [(OSError, TimeoutError)]


def redis_down() -> tuple[type[BaseException], ...]:
    """The exceptions that mean Redis failed, for ``except redis_down():`` around a Redis call."""
    return _DOWN[0]


def prefix(config: Config) -> str:
    """Key prefix (ENGINE_REDIS_PREFIX): separates deployments that share one Redis."""
    return config.value("ENGINE_REDIS_PREFIX")


def shared_redis(app: web.Application, config: Config) -> Any:
    """The app's client (created on first call, closed with the app), or None without REDIS_URL."""
    url = config.redis_url
    if not url:
        return None
    client = app.get(REDIS)
    if client is None:
        from redis.asyncio.retry import Retry  # the redis package: only with REDIS_URL set
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError

        from engine.db.breaker import Breaker, BreakerSettings
        from engine.db.redis_client import GuardedRedis

        _DOWN[0] = (RedisError, OSError, TimeoutError)
        timeout = config.value("ENGINE_REDIS_TIMEOUT")
        client = GuardedRedis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
        client.breaker = Breaker(BreakerSettings.from_config(config))
        app[REDIS] = client

        async def close(app: web.Application) -> None:
            await client.aclose()

        app.on_cleanup.append(close)
    return client


class OutageLog:
    """Warn about a failing dependency at most every `every` seconds: an outage must be visible in
    the logs without writing one line per request."""

    def __init__(self, logger: logging.Logger, every: float = 30.0):
        self._logger = logger
        self._every = every
        self._last = -every
        self.failing = False

    def failed(self, message: str, exc: BaseException) -> None:
        self.failing = True
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._logger.warning("%s: %r", message, exc)

    def recovered(self, message: str) -> None:
        if self.failing:
            self.failing = False
            self._logger.warning(message)
