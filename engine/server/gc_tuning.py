"""Garbage-collector settings for a serving process, applied once the app has started.

Measured under the benchmark's list scenario, CPython's defaults spent about 20 us of every request
in collections: the full ones re-scan the ~100,000 objects start-up leaves behind (modules, the
spec, compiled statements and validators), which live as long as the process. `gc.freeze()` moves
them out of the collector's way, and a higher first-generation threshold lets a request's
short-lived containers die by reference counting before a collection looks at them: cycles are
still collected, a little later. The tests, which build many apps in one process, keep the defaults.
"""

from __future__ import annotations

import gc

from aiohttp import web

THRESHOLDS = (20_000, 10, 10)  # CPython's defaults: (700, 10, 10)


async def _tune(app: web.Application) -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def install(app: web.Application) -> None:
    """Tune after every other start-up step (the database pool, the plugins' startup hooks)."""
    app.on_startup.append(_tune)
