"""Waiting for an asyncio.Event with a time limit, safely under cancellation.

Python 3.11's asyncio.wait_for can swallow a cancellation that arrives as the awaited event
fires, which would keep a `while True` loop of a background task alive through shutdown;
asyncio.timeout does not have that flaw.
"""

from __future__ import annotations

import asyncio


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` was set within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
