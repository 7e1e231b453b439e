"""Token buckets: in-process for one worker, or one atomic Redis script shared by every worker.

A bucket holds up to `limit` tokens and refills at `limit / period` tokens per second; a request
takes one token or is refused. Bursts up to the limit pass, and a steady client gets exactly the
configured rate, without the double-burst at window edges of fixed windows.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from engine.features.rate_limit.rates import Rate


class Decision(NamedTuple):  # a tuple: built on every request, and a frozen dataclass costs ~1 us more
    allowed: bool
    limit: int
    remaining: int  # whole tokens left after this request
    reset: int  # seconds until the bucket is full again
    retry_after: int  # seconds until the next token (0 when allowed)

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


def decide(allowed: bool, tokens: float, rate: Rate) -> Decision:
    """The decision for a bucket left with `tokens` after the request was counted (or refused)."""
    refill = rate.per_second
    reset = math.ceil(max(rate.limit - tokens, 0) / refill)
    retry_after = 0 if allowed else max(1, math.ceil((1 - tokens) / refill))
    return Decision(allowed, rate.limit, max(int(tokens), 0), reset, retry_after)


class BucketStore(Protocol):
    async def take(self, key: str, rate: Rate) -> Decision: ...


class MemoryBuckets:
    """One worker's buckets, least recently used first out when `max_keys` is reached (an evicted
    bucket comes back full, so eviction can only be generous)."""

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        # An OrderedDict as the LRU: a lookup, a move and a store per request, in C (cachetools' is Python).
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    async def take(self, key: str, rate: Rate) -> Decision:
        now = self._clock()
        buckets = self._buckets
        entry = buckets.get(key)
        if entry is None:
            tokens = float(rate.limit)
        else:
            tokens = min(float(rate.limit), entry[0] + (now - entry[1]) * rate.per_second)
            buckets.move_to_end(key)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        buckets[key] = (tokens, now)
        if len(buckets) > self._max_keys:
            buckets.popitem(last=False)
        return decide(allowed, tokens, rate)


# Runs atomically in Redis, on Redis' clock, so every worker shares one bucket per key.
# KEYS[1]: the bucket; ARGV[1]: limit; ARGV[2]: period in milliseconds.
# Returns {allowed (1/0), tokens left as a decimal string}.
TAKE_SCRIPT = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = limit
  at = now
end
local per_ms = limit / period
tokens = math.min(limit, tokens + math.max(0, now - at) * per_ms)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((limit - tokens) / per_ms) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisBuckets:
    """Buckets in Redis under `prefix`; errors (Redis down) propagate for the caller's fail mode."""

    def __init__(self, client: Any, prefix: str):
        self._script = client.register_script(TAKE_SCRIPT)
        self._prefix = prefix

    async def take(self, key: str, rate: Rate) -> Decision:
        allowed, tokens = await self._script(keys=[f"{self._prefix}:rl:{key}"], args=[rate.limit, rate.period * 1000])
        return decide(bool(int(allowed)), float(tokens), rate)
