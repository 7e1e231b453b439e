"""Sessions in Redis (REDIS_URL set): imported only then, so a deployment without Redis never
loads the redis package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.redis_storage import RedisStorage
from redis.exceptions import RedisError

from engine.kernel.errors import ServiceUnavailable


class RedisSessions(RedisStorage):
    """Redis storage that deletes an ended session's entry instead of storing it empty, and
    answers 503 (not 500) while Redis is unreachable."""

    def __init__(self, redis: Any, **kwargs: Any):
        super().__init__(redis, **kwargs)
        self.client = redis

    async def load_session(self, request: web.Request) -> Session:
        with _redis_problems():
            return await super().load_session(request)

    async def save_session(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        with _redis_problems():
            if session.empty and session.identity is not None:
                self.save_cookie(response, "", max_age=session.max_age)
                await self.client.delete(f"{self.cookie_name}_{session.identity}")
                return
            await super().save_session(request, response, session)

    async def forget(self, key: str) -> None:
        with _redis_problems():
            await self.client.delete(f"{self.cookie_name}_{key}")


@contextmanager
def _redis_problems() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError):
        raise ServiceUnavailable(
            "the session store is unavailable; retry shortly", headers={"Retry-After": "1"}
        ) from None
