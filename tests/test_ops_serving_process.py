"""What a serving process sets up for speed: its event loop and its garbage collector."""

from __future__ import annotations

import gc

import pytest
from aiohttp import web

from engine.server import gc_tuning


@pytest.fixture
def restore_gc():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


async def test_the_collector_is_tuned_after_the_other_startup_steps(aiohttp_client, restore_gc):
    seen_during_startup = []
    app = web.Application()
    app.on_startup.append(lambda app: _record(seen_during_startup))
    gc_tuning.install(app)

    await aiohttp_client(app)

    assert seen_during_startup == [False]  # the app's own start-up ran before the tuning
    assert gc.get_threshold() == gc_tuning.THRESHOLDS
    assert gc.get_freeze_count() > 0


async def _record(seen: list[bool]) -> None:
    seen.append(gc.get_threshold() == gc_tuning.THRESHOLDS)


def test_serve_runs_on_uvloop_like_the_gunicorn_workers():
    uvloop = pytest.importorskip("uvloop")  # a dependency everywhere but Windows
    from engine.cli.serve import new_event_loop

    loop = new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
