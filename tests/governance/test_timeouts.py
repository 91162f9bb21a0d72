"""The timeout wheel on the mock clock: deadlines fire within a tick and never early, lingering
calls are reported once, finished calls leave nothing behind, and the ticker stops when idle."""

from __future__ import annotations

import asyncio

import pytest

from seawall.governance import TimeoutWheel, Watch
from seawall.testing import MockClock

TICK = 0.005


async def hang(wheel: TimeoutWheel, seconds: float, fired: list[float], clock: MockClock) -> Watch:
    """Watch the current task for ``seconds`` and wait until cancelled; logs when."""
    w = wheel.watch(seconds)
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        fired.append(clock.now())
    return w


async def run_until(clock: MockClock, until: float, step: float = TICK / 5) -> None:
    """Advance the mock clock in small steps, letting the ticker run at each."""
    while clock.now() < until - 1e-12:
        clock.jump(step)
        for _ in range(5):
            await asyncio.sleep(0)


@pytest.mark.parametrize("deadline", [0.001, 0.004, 0.007, 0.012, 0.5])
async def test_a_deadline_fires_within_one_tick_and_never_early(deadline: float) -> None:
    """Short (under two ticks) and long deadlines alike fire in ``[deadline, deadline + tick]``."""
    clock = MockClock()
    wheel = TimeoutWheel(clock=clock, resolution=TICK)
    fired: list[float] = []
    task = asyncio.ensure_future(hang(wheel, deadline, fired, clock))
    await asyncio.sleep(0)
    await run_until(clock, deadline + 2 * TICK)
    await task
    assert len(fired) == 1
    assert deadline <= fired[0] <= deadline + TICK + 1e-9


async def test_a_finished_call_is_never_cancelled_and_leaves_nothing() -> None:
    """``done`` before the deadline: no cancellation, nothing watched, the ticker stops."""
    clock = MockClock()
    wheel = TimeoutWheel(clock=clock, resolution=TICK)
    lingered: list[Watch] = []

    async def quick() -> None:
        w = wheel.watch(0.05)
        w.on_linger = lingered.append
        await clock.sleep(0.02)  # lingers (runs for four ticks), then finishes in time
        wheel.done(w)

    task = asyncio.ensure_future(quick())
    await asyncio.sleep(0)
    await run_until(clock, 0.1)
    await task
    assert not task.cancelled()
    assert wheel.watched == 0
    assert len(lingered) == 1  # told once, not once per tick
    await run_until(clock, 0.12)
    assert wheel._ticker is None  # nothing watched: the ticker has stopped


async def test_only_calls_running_a_full_tick_linger() -> None:
    """A call ended within its first tick is never reported; one still running after a full tick is."""
    clock = MockClock()
    wheel = TimeoutWheel(clock=clock, resolution=TICK)
    lingered: list[Watch] = []
    quick = wheel.watch(1.0)
    slow = wheel.watch(1.0)
    quick.task = slow.task = None  # (watched from this test's task: not to be cancelled)
    for w in (quick, slow):
        w.on_linger = lingered.append
    clock.jump(TICK / 2)
    wheel.done(quick)
    wheel.tick()
    assert lingered == []  # slow has not run a full tick yet
    clock.jump(TICK)
    wheel.tick()
    assert lingered == [slow]
    clock.jump(TICK)
    wheel.tick()
    assert lingered == [slow]
    assert wheel.watched == 1
    wheel.done(slow)
    assert wheel.watched == 0


async def test_a_long_jump_fires_every_due_deadline() -> None:
    """After an idle spell far longer than the deadlines, one tick cancels every due call."""
    clock = MockClock()
    wheel = TimeoutWheel(clock=clock, resolution=TICK)
    watches = [wheel.watch(t) for t in (0.002, 0.03, 5.0, 60.0)]
    for w in watches:
        w.task = None  # (watched from this test's task: not to be cancelled)
    clock.jump(TICK * 3)
    assert wheel.tick() == 1  # 0.002 (filed as young), the others not yet due
    clock.jump(10.0)
    assert wheel.tick() == 2  # 0.03 and 5.0
    assert [w.expired for w in watches] == [True, True, True, False]
    assert wheel.watched == 1


async def test_done_from_on_linger_is_safe() -> None:
    """An ``on_linger`` that ends the call (done) while the wheel walks the lingering calls."""
    clock = MockClock()
    wheel = TimeoutWheel(clock=clock, resolution=TICK)
    ws = [wheel.watch(1.0) for _ in range(3)]
    for w in ws:
        w.on_linger = wheel.done
    for _ in range(3):
        clock.jump(TICK)
        wheel.tick()
    assert wheel.watched == 0
    assert not any(w.expired for w in ws)
