"""The shared deadline timer (engine/features/timeouts/timer.py) keeps asyncio.timeout's promises:
past the deadline the task is cancelled and the expiry reported; an outside cancellation stays a
cancellation; a finished request leaves nothing behind. The 504 itself: test_protection_timeouts.py."""

from __future__ import annotations

import asyncio

import pytest

from engine.features.timeouts.timer import DeadlineTimer


async def guarded(timer: DeadlineTimer, seconds: float, work) -> str:
    deadline = timer.start(seconds)
    try:
        await work()
    except asyncio.CancelledError:
        if deadline.end():
            return "expired"
        raise
    finally:
        deadline.end()
    return "done"


async def test_work_past_its_deadline_is_cancelled_and_reported_expired():
    timer = DeadlineTimer(0.01)
    assert await guarded(timer, 0.05, lambda: asyncio.sleep(30)) == "expired"


async def test_an_expired_deadline_leaves_the_task_uncancelled():
    timer = DeadlineTimer(0.01)
    await guarded(timer, 0.05, lambda: asyncio.sleep(30))
    assert asyncio.current_task().cancelling() == 0
    await asyncio.sleep(0)  # the task goes on normally


async def test_work_within_its_deadline_is_not_touched():
    timer = DeadlineTimer(0.01)
    assert await guarded(timer, 30, lambda: asyncio.sleep(0)) == "done"


async def test_an_outside_cancellation_is_not_reported_as_a_deadline():
    timer = DeadlineTimer(0.01)
    task = asyncio.create_task(guarded(timer, 30, lambda: asyncio.sleep(30)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_finished_request_leaves_its_slice():
    timer = DeadlineTimer(1.0)
    deadlines = [timer.start(30) for _ in range(100)]
    for deadline in deadlines:
        deadline.end()
    assert all(not bucket for bucket in timer._slices.values())


@pytest.mark.asyncio_loop  # counts the timers in asyncio's loop (`_scheduled`); uvloop keeps them in C
async def test_deadlines_in_one_slice_share_one_timer():
    timer = DeadlineTimer(10.0)
    loop = asyncio.get_running_loop()
    before = len(loop._scheduled)
    deadlines = [timer.start(30) for _ in range(100)]
    assert len(loop._scheduled) - before <= 2  # at most two slices: the clock may cross a boundary
    for deadline in deadlines:
        deadline.end()
