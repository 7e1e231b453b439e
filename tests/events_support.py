"""Helpers the event tests share: open a stream and read its messages, wait for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson

from engine.features.events import sse
from engine.kernel.hooks import hookimpl

WAIT = 10.0  # seconds: generous bounds for something that must arrive, never a timing assertion


class Stream:
    """An open /api/events/stream response, read message by message."""

    def __init__(self, response: Any):
        self.response = response
        self.messages = sse.messages(response.content)

    async def next_message(self, within: float = WAIT) -> sse.Message:
        async with asyncio.timeout(within):
            return await anext(self.messages)

    async def next_event(self, within: float = WAIT) -> sse.Message:
        """The next event, skipping comments (keep-alives); `within` bounds the whole wait, so a
        stream that only ever sends keep-alives fails here instead of hanging."""
        async with asyncio.timeout(within):
            while True:
                message = await anext(self.messages)
                if message.comment is None:
                    return message

    async def events(self, count: int, within: float = WAIT) -> list[sse.Message]:
        return [await self.next_event(within) for _ in range(count)]


def body(message: sse.Message) -> dict[str, Any]:
    return orjson.loads(message.data)


@asynccontextmanager
async def open_stream(
    api: Any, client: Any, query: str = "", headers: dict[str, str] | None = None
) -> AsyncIterator[Stream]:
    """Subscribe as `client`; returns once the server has registered the subscriber."""
    async with api.client.get(f"/api/events/stream{query}", headers={**client.headers, **(headers or {})}) as response:
        assert response.status == 200, await response.text()
        stream = Stream(response)
        first = await stream.next_message()
        assert first.comment == "connected", first
        yield stream


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, within: float = WAIT) -> None:
    """Poll `check` until it holds; fail naming `what` if it does not within `within` seconds."""
    try:
        async with asyncio.timeout(within):
            while not await check():  # noqa: ASYNC110 - polls the database, which has no event to await
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {within}s waiting for {what}") from None


async def event_rows(api: Any) -> list[dict[str, Any]]:
    rows = await api.sql("select * from _engine_events order by id")
    return [dict(row) for row in rows]


class Recorder:
    """An on_event handler that keeps every event it is given."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    @hookimpl
    async def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def of(self, record_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["record_id"] == record_id]


async def wait_settled(api: Any) -> None:
    """Wait until every event written so far has settled (no older transaction anywhere on the server
    still runs): a test whose promise is about replay then reads them all from the table, whatever
    else shares the PostgreSQL server."""

    async def settled() -> bool:
        rows = await api.sql(
            "select count(*) = 0 from _engine_events where tx >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        )
        return rows[0][0]

    await wait_until(settled, "the events to settle")
