"""The Redis client classes: imported only when REDIS_URL is set (engine.db.redis.shared_redis),
so a deployment without Redis never loads the redis package (about 5 MB of a worker's memory)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from engine.db.breaker import Breaker


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
