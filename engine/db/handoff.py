"""First come, first served for pool connections: a freed connection goes to the longest waiter.

asyncpg keeps free connections in an asyncio LIFO queue. When a connection is released while
requests wait, asyncio wakes the first waiter but leaves the connection in the queue until that
waiter runs, and a request arriving in between takes it; the woken waiter finds the queue empty
and waits again, at the back. Under load some requests lose that race again and again: the mean
stays fine while the slowest requests wait many times longer (p99). Handing the connection to the
waiter's future directly, and making newcomers queue behind existing waiters, removes the race.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any


class _HandOff:
    """Mixed into asyncpg's queue class (see `fair`), so its own preferences still apply to free items."""

    _getters: Any

    def put_nowait(self, item: Any) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        super().put_nowait(item)  # type: ignore[misc]

    async def get(self) -> Any:
        if not self._getters and not self.empty():  # type: ignore[attr-defined]
            return self.get_nowait()  # type: ignore[attr-defined]
        waiter = self._get_loop().create_future()  # type: ignore[attr-defined]
        self._getters.append(waiter)
        try:
            return await waiter
        except BaseException:
            if not waiter.done():
                waiter.cancel()
                try:
                    self._getters.remove(waiter)
                except ValueError:
                    pass
            elif not waiter.cancelled():  # handed an item, then cancelled before running: pass it on
                self.put_nowait(waiter.result())
            raise


@functools.cache
def _fair_class(base: type) -> type:
    return type(f"Fair{base.__name__}", (_HandOff, base), {})


def fair(queue: asyncio.Queue) -> None:
    """Make `queue` (asyncpg's queue of free connections) hand items to waiters in arrival order."""
    queue.__class__ = _fair_class(type(queue))
