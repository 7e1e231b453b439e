"""Run a hypothesis property whose examples are coroutines on the test's own event loop.

pytest-aiohttp gives each test function one app, one server and one client bound to the running
loop. Hypothesis drives examples synchronously, so the property runs in a worker thread and each
example is handed back to the loop with ``run_coroutine_threadsafe``. The inner property takes no
pytest fixture as an argument, so hypothesis's function-scoped-fixture health check does not
apply: state the examples share (the database rows) is reset explicitly by each example.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from .profiles import active

EXAMPLE_TIMEOUT_S = 120


async def check_property(strategy: st.SearchStrategy[Any], check: Callable[[Any], Awaitable[None]]) -> int:
    """Run ``check(example)`` on this loop for every example hypothesis draws from ``strategy``;
    returns how many examples ran (for the figures in docs/reliability.md)."""
    loop = asyncio.get_running_loop()
    runs = 0

    @active()
    @given(strategy)
    def prop(example: Any) -> None:
        nonlocal runs
        runs += 1
        asyncio.run_coroutine_threadsafe(check(example), loop).result(timeout=EXAMPLE_TIMEOUT_S)

    await loop.run_in_executor(None, prop)
    return runs
