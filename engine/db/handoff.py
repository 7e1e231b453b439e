"""First come, first served for pool connections: a freed connection goes to the longest waiter.

asyncpg keeps free connections in an asyncio LIFO queue. When a connection is released while
requests wait, asyncio wakes the first waiter but leaves the connection in the queue until that
waiter runs, and a request arriving in between takes it; the woken waiter finds the queue empty
and waits again, at the back. Under load some requests lose that race again and again: the mean
stays fine while the slowest requests wait many times longer (p99). Handing the connection to the
waiter's future directly, and making newcomers queue behind existing waiters, removes the race.
"""

from __future__ import annotations

from typing import Any


class HandOff:
    """Mixed in before an asyncio queue class (engine.db.asyncpg_internals.FairHolderQueue puts it before
    asyncpg's queue of free connections), so that class's own preferences still apply to free items.

    It relies on two private parts of asyncio.Queue, checked at start-up with asyncpg's: `_getters`,
    the deque of waiters' futures, and `_get_loop()`.
    """

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
