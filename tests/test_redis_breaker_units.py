"""The circuit breaker's state machine, on a clock the test moves (the outage tests use real Redis)."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from engine.db.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, BreakerSettings, RedisUnavailable
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def call(breaker: Breaker, error: BaseException | None = None) -> None:
    async with breaker.guard():
        if error is not None:
            raise error


async def fail(breaker: Breaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(RedisConnectionError):
            await call(breaker, RedisConnectionError("down"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock) -> Breaker:
    return Breaker(BreakerSettings(threshold=3, backoff=1.0, max_backoff=4.0), clock)


async def test_it_opens_after_the_threshold_of_consecutive_failures(breaker):
    await fail(breaker, 2)
    await call(breaker)  # a success resets the count
    await fail(breaker, 2)
    assert breaker.state == CLOSED
    await fail(breaker)
    assert breaker.state == OPEN


async def test_while_open_calls_are_refused_without_running(breaker):
    await fail(breaker, 3)
    with pytest.raises(RedisUnavailable):
        await call(breaker)
    assert breaker.refused == 1 and breaker.failures == 3


async def test_after_the_backoff_one_probe_runs_and_the_others_are_refused(breaker, clock):
    await fail(breaker, 3)
    clock.now = 1.0
    async with breaker.guard():
        assert breaker.state == HALF_OPEN
        with pytest.raises(RedisUnavailable):
            await call(breaker)
    assert breaker.state == CLOSED


async def test_a_failed_probe_doubles_the_backoff_up_to_the_maximum(breaker, clock):
    await fail(breaker, 3)
    delays = []
    for _ in range(4):
        clock.now = breaker.retry_at
        await fail(breaker)
        delays.append(breaker.delay)
    assert delays == [2.0, 4.0, 4.0, 4.0]
    assert breaker.state == OPEN


async def test_a_reply_error_means_redis_is_reachable(breaker):
    await fail(breaker, 2)
    with pytest.raises(ResponseError):
        await call(breaker, ResponseError("NOSCRIPT"))
    await fail(breaker, 2)
    assert breaker.state == CLOSED


def test_settings_come_from_the_environment(engine_spec):
    env = {
        "ENGINE_REDIS_BREAKER_FAILURES": "7",
        "ENGINE_REDIS_BREAKER_BACKOFF": "2",
        "ENGINE_REDIS_BREAKER_MAX_BACKOFF": "9",
    }
    settings = BreakerSettings.from_config(Config.from_env(engine_spec, env=env))
    assert (settings.threshold, settings.backoff, settings.max_backoff) == (7, 2.0, 9.0)


def test_a_bad_threshold_stops_start_up(engine_spec):
    with pytest.raises(ConfigurationError, match="ENGINE_REDIS_BREAKER_FAILURES"):
        BreakerSettings.from_config(Config.from_env(engine_spec, env={"ENGINE_REDIS_BREAKER_FAILURES": "0"}))
