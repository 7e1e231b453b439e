"""One loop timer per slice of time for every request's deadline, instead of a timer per request.

`asyncio.timeout` schedules a TimerHandle for each request and cancels it when the request ends,
so every request pays a heap push, a cancellation and the heap's clean-up. Here a deadline joins
the set of its slice (deadlines are rounded down to a multiple of `slice` seconds, so a request is
cut at most one slice early, and always before the statement timeout, which equals the deadline,
stops its query) and leaves it when the request ends: a set add and a set
discard. The slice's single `loop.call_at` cancels whatever is still in its set when it fires.
Expiry is reported like `asyncio.timeout` reports it: the task's cancellation is withdrawn and
`expired()` is True, so the caller answers 504, and an outside cancellation is never swallowed.
"""

from __future__ import annotations

import asyncio
import math


class Deadline:
    __slots__ = ("bucket", "cancelling", "expired", "task")

    def __init__(self, task: asyncio.Task, bucket: set[Deadline] | None):
        self.task, self.bucket = task, bucket
        self.expired = False
        self.cancelling = task.cancelling()

    def end(self) -> bool:
        """Leave the slice; True when the deadline had cancelled the task (and that cancellation
        is now withdrawn), as `asyncio.timeout` does on exit."""
        bucket, self.bucket = self.bucket, None
        if bucket is None:
            return False  # ended before
        bucket.discard(self)
        return self.expired and self.task.uncancel() <= self.cancelling


class DeadlineTimer:
    def __init__(self, slice_seconds: float):
        self.slice = slice_seconds
        self._slices: dict[int, set[Deadline]] = {}

    def start(self, seconds: float) -> Deadline:
        """The current task's deadline, `seconds` from now (cut at most one slice sooner)."""
        loop = asyncio.get_running_loop()
        slot = math.floor((loop.time() + seconds) / self.slice)
        bucket = self._slices.get(slot)
        if bucket is None:
            bucket = self._slices[slot] = set()
            loop.call_at(slot * self.slice, self._fire, slot)
        deadline = Deadline(asyncio.current_task(), bucket)  # type: ignore[arg-type]
        bucket.add(deadline)
        return deadline

    def _fire(self, slot: int) -> None:
        for deadline in self._slices.pop(slot, ()):
            deadline.expired = True
            deadline.task.cancel()
