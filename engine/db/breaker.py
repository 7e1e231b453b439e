"""A circuit breaker for Redis: after consecutive failures, fail at once instead of waiting.

While Redis is unreachable every call would otherwise wait up to ENGINE_REDIS_TIMEOUT before the
feature falls back to its degraded mode. After `threshold` consecutive failures the breaker
*opens*: calls raise `RedisUnavailable` at once (a redis ConnectionError, so every feature's
existing fallback applies unchanged). After `backoff` seconds one call is let through as a
probe (*half-open*): success closes the breaker, failure opens it again for twice as long, up to
`max_backoff`. Each change of state is logged and published as `engine_redis_breaker_state`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.db import metrics
from engine.kernel.config import Config

log = logging.getLogger("engine.redis")
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}  # worse is higher: /metrics shows the worst worker
# Failures that say Redis is unreachable; a reply such as NOSCRIPT or WRONGTYPE means it is up.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


class RedisUnavailable(RedisConnectionError):
    """Refused by the open breaker without trying Redis."""


@dataclass(frozen=True)
class BreakerSettings:
    threshold: int = 5  # consecutive failures that open the breaker
    backoff: float = 1.0  # seconds before the first probe; doubles after each failed probe
    max_backoff: float = 30.0

    @classmethod
    def from_config(cls, config: Config) -> BreakerSettings:
        """ENGINE_REDIS_BREAKER_FAILURES, ENGINE_REDIS_BREAKER_BACKOFF, ENGINE_REDIS_BREAKER_MAX_BACKOFF."""
        threshold = config.value("ENGINE_REDIS_BREAKER_FAILURES")
        backoff = config.value("ENGINE_REDIS_BREAKER_BACKOFF") or cls.backoff
        max_backoff = config.value("ENGINE_REDIS_BREAKER_MAX_BACKOFF") or cls.max_backoff
        return cls(threshold, backoff, max(backoff, max_backoff))


class Breaker:
    def __init__(self, settings: BreakerSettings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.clock = clock
        self.state = CLOSED
        self.failures = 0  # consecutive
        self.delay = settings.backoff
        self.retry_at = 0.0
        self.refused = 0  # calls answered by the open breaker, since start
        self.tripped = 0  # times it opened, since start
        metrics.REDIS_BREAKER_STATE.set(STATE_VALUES[CLOSED])

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Around one Redis call: refuse it while open, and record how it went."""
        self._admit()
        try:
            yield
        except UNREACHABLE as exc:
            if not isinstance(exc, RedisUnavailable):
                self._failed(exc)
            raise
        except RedisError:  # a reply (NOSCRIPT, WRONGTYPE ...): Redis is reachable
            self._succeeded()
            raise
        except BaseException:
            if self.state == HALF_OPEN:  # the probe was cancelled: the next call probes instead
                self._enter(OPEN)
            raise
        else:
            self._succeeded()

    def _admit(self) -> None:
        if self.state == CLOSED:
            return
        if self.state == OPEN and self.clock() >= self.retry_at:
            self._enter(HALF_OPEN)  # this call is the probe
            return
        self.refused += 1
        raise RedisUnavailable(f"Redis circuit breaker is {self.state}; next probe in {self._wait():.1f} s")

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.state == HALF_OPEN:
            self.delay = min(self.delay * 2, self.settings.max_backoff)
            self._open(f"probe failed ({exc!r})")
        elif self.state == CLOSED and self.failures >= self.settings.threshold:
            self.tripped += 1
            self._open(f"{self.failures} consecutive failures, the last {exc!r}")

    def _succeeded(self) -> None:
        self.failures = 0
        if self.state != CLOSED:
            self.delay = self.settings.backoff
            self._enter(CLOSED)
            log.warning("Redis circuit breaker closed: Redis answers again; Redis-backed features are back")

    def _open(self, why: str) -> None:
        self.retry_at = self.clock() + self.delay
        self._enter(OPEN)
        log.warning(
            "Redis circuit breaker open: %s; rate limits, the query cache and Redis sessions run degraded; "
            "next probe in %.1f s",
            why,
            self.delay,
        )

    def _enter(self, state: str) -> None:
        self.state = state
        metrics.REDIS_BREAKER_STATE.set(STATE_VALUES[state])

    def _wait(self) -> float:
        return max(0.0, self.retry_at - self.clock())
