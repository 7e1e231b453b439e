"""Give the C heap's freed memory back to the system after a burst, in a serving process.

A bulk create of 1,000 rows or a batch holds tens of megabytes while it runs (the parsed body, the
rows, the response). Python frees them afterwards, but glibc keeps much of what it freed in its heap
for later allocations: measured after forty 1,000-agent bulk creates, a worker stayed at 109 MB
resident where `malloc_trim(0)` brought it to 99 MB. So a serving process looks at its resident size
every few seconds (one read of /proc/self/statm) and, while it is more than GROWTH above its size
at start-up, asks glibc to return the free pages. A trim that gives back little means the memory
is in use: the process then rests for about a minute before the next. A trim walks the heap's free lists and
costs about a millisecond on a 170 MB heap; a process whose size does not grow never trims.

Where the C library has no `malloc_trim` (musl, macOS) or /proc is missing, nothing runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger("engine.ops")

INTERVAL = 5.0  # seconds between looks at the resident size
GROWTH = 8 * 1024 * 1024  # bytes above the size at start-up that make a look trim
REST = 11  # looks skipped after a trim that gave back less than GROWTH / 2 (about a minute)
STATM = "/proc/self/statm"


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def resident_bytes() -> int | None:
    """This process's resident size, from /proc/self/statm (None where there is none)."""
    try:
        with open(STATM, encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class Trimmer:
    """Trims while the resident size is more than `growth` bytes above its size at start-up; after
    a trim that gave little back (the memory is in use), it skips the next `rest` looks."""

    def __init__(self, growth: int = GROWTH, trim: Callable[[int], int] | None = None, rest: int = REST):
        self.growth, self.rest = growth, rest
        self.trim = trim if trim is not None else _malloc_trim()
        self.baseline = resident_bytes()
        self.trims = 0
        self._skip = 0

    @property
    def available(self) -> bool:
        return self.trim is not None and self.baseline is not None

    def check(self) -> bool:
        """One look: trim if the process is large enough; True when it trimmed."""
        if self._skip:
            self._skip -= 1
            return False
        size = resident_bytes()
        if self.trim is None or size is None or self.baseline is None or size - self.baseline <= self.growth:
            return False
        self.trim(0)
        self.trims += 1
        after = resident_bytes() or size
        log.debug("returned freed heap memory: resident %d -> %d kB", size // 1024, after // 1024)
        if size - after < self.growth // 2:
            self._skip = self.rest
        return True


TRIMMER = web.AppKey("memory_trimmer", Trimmer)
_TASK = web.AppKey("memory_trimmer_task", asyncio.Task)


async def _watch(trimmer: Trimmer, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        trimmer.check()


def install(app: web.Application, interval: float = INTERVAL) -> None:
    """Watch this process's size while the app serves (where the C library can trim)."""

    async def start(app: web.Application) -> None:
        trimmer = Trimmer()
        app[TRIMMER] = trimmer
        if trimmer.available:
            app[_TASK] = asyncio.get_running_loop().create_task(_watch(trimmer, interval), name="engine-memory-trim")

    async def stop(app: web.Application) -> None:
        task = app.get(_TASK)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
