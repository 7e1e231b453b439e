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
from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from engine.db.breaker import Breaker, BreakerSettings
from engine.kernel.config import Config


class GuardedRedis(Redis):
    """A redis.asyncio client whose commands and pipelines pass the app's circuit breaker."""

    breaker: Breaker

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        async with self.breaker.guard():
            return await super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> GuardedPipeline:
        pipe = GuardedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.breaker = self.breaker
        return pipe


class GuardedPipeline(Pipeline):
    breaker: Breaker

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        async with self.breaker.guard():
            return await super().execute(raise_on_error)


REDIS = web.AppKey("protection_redis", GuardedRedis)

# What a Redis outage looks like to a caller: the client's errors, refused or reset sockets, timeouts.
REDIS_DOWN = (RedisError, OSError, TimeoutError)


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
