"""What a serving process sets up: its event loop, its garbage collector, and giving freed memory back."""

from __future__ import annotations

import asyncio
import gc

import pytest
from aiohttp import web

from engine.server import gc_tuning, memory


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


# --- freed heap memory goes back to the system ---------------------------------------------------


def _grow_and_free_the_c_heap(megabytes: int) -> bytes:
    """Fill the C heap with objects malloc serves from it (1 kB each), free them, and return one
    object allocated after them, which keeps the heap's top in place: glibc's own free() can then
    not give the pages back, only `malloc_trim` can."""
    blocks = [bytes(1000) + bytes([i % 256]) for i in range(megabytes * 1000)]
    pin = bytes(1000) + b"pin"
    del blocks
    return pin


def test_a_process_that_grew_gets_its_freed_heap_back():
    trimmer = memory.Trimmer(growth=16 * 1024 * 1024)
    assert trimmer.available  # glibc on Linux: the serving platform
    pin = _grow_and_free_the_c_heap(100)
    grown = memory.resident_bytes()
    trimmer.baseline = min(trimmer.baseline, grown - 32 * 1024 * 1024)  # as if it grew since the last look

    assert trimmer.check() is True
    assert trimmer.trims == 1
    assert memory.resident_bytes() < grown - 50 * 1024 * 1024  # most of the 100 MB freed went back
    assert pin  # kept alive until here


def test_a_process_that_did_not_grow_is_left_alone():
    trimmer = memory.Trimmer(growth=1024 * 1024 * 1024)

    assert trimmer.check() is False
    assert trimmer.trims == 0


async def test_a_serving_app_watches_its_size_while_it_runs(aiohttp_client):
    app = web.Application()
    memory.install(app, interval=0.01)
    await aiohttp_client(app)
    trimmer = app[memory.TRIMMER]
    trimmer.growth = -1  # every look trims
    for _ in range(500):
        if trimmer.trims:
            break
        await asyncio.sleep(0.01)

    assert trimmer.trims >= 1


def test_a_trim_that_gives_little_back_rests_before_the_next():
    trims = []
    trimmer = memory.Trimmer(growth=1024, trim=trims.append, rest=3)  # a trim that frees nothing
    trimmer.baseline -= 1024 * 1024

    looks = [trimmer.check() for _ in range(5)]

    assert looks == [True, False, False, False, True]
