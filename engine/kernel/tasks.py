"""The "shutting down" signal that long-lived responses (event streams) listen for.

When a worker is told to stop (SIGTERM from gunicorn or systemd, a reload, max-requests), aiohttp
stops accepting connections, runs ``on_shutdown``, then waits up to the graceful timeout for
in-flight requests to finish. Ordinary requests finish by themselves; a stream never does, so a
stream handler waits on this event as well as on its own data and, once it is set, sends a
``retry:`` hint and returns, and the client reconnects to another worker::

    from engine.kernel.tasks import SHUTTING_DOWN, RECONNECT_MS

    stopping = request.app[SHUTTING_DOWN]
    while not stopping.is_set():
        ...  # wait for the next event or for `stopping.wait()`, whichever comes first
    await response.write(f"retry: {RECONNECT_MS}\\n\\n".encode())

``/readyz`` answers 503 as soon as the event is set, so a load balancer stops routing here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

SHUTTING_DOWN = web.AppKey("shutting_down", asyncio.Event)
RECONNECT_MS = 1000  # the retry hint for event-stream clients: reconnect after a second

log = logging.getLogger("engine.ops")


def install(app: web.Application) -> None:
    """Give ``app`` its SHUTTING_DOWN event, set first thing in ``on_shutdown``."""
    if SHUTTING_DOWN in app:
        return
    app[SHUTTING_DOWN] = asyncio.Event()
    app.on_shutdown.insert(0, _announce)


async def _announce(app: web.Application) -> None:
    log.info("shutting down: draining in-flight requests", extra={"event": "shutdown"})
    app[SHUTTING_DOWN].set()


async def cancel_task(task: asyncio.Task | None) -> None:
    """Stop a plugin's background task at shutdown and wait until it has unwound."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
