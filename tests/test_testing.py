"""``seawall.testing``: MockClock (jump, sleep, autojump) and its pytest fixtures."""

from __future__ import annotations

import asyncio

import pytest

from seawall import Clock
from seawall.testing import MockClock


def test_starts_at_given_time() -> None:
    """``now()`` starts at ``start`` (0 by default) and does not move by itself."""
    assert MockClock().now() == 0.0
    clock = MockClock(start=5)
    assert clock.now() == 5.0
    assert clock.now() == 5.0


def test_is_a_clock() -> None:
    """MockClock satisfies the Clock protocol."""
    assert isinstance(MockClock(), Clock)


def test_jump_advances_time() -> None:
    """``jump(s)`` moves ``now()`` forward by exactly ``s``."""
    clock = MockClock()
    clock.jump(1.5)
    clock.jump(0)
    assert clock.now() == 1.5


def test_negative_jump_is_refused() -> None:
    """Time cannot go backwards."""
    clock = MockClock()
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        clock.jump(-0.1)
    assert clock.now() == 0.0


async def test_sleep_wakes_at_its_deadline() -> None:
    """A sleeper wakes when time reaches its deadline, not before."""
    clock = MockClock()
    task = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)
    clock.jump(9.99)
    await asyncio.sleep(0)
    assert not task.done()
    clock.jump(0.01)
    await asyncio.sleep(0)
    assert task.done()


async def test_sleepers_wake_in_deadline_order() -> None:
    """Several sleepers wake in order of their deadlines, each when its time comes."""
    clock = MockClock()
    woke: list[int] = []

    async def sleeper(n: int) -> None:
        await clock.sleep(n)
        woke.append(n)

    tasks = [asyncio.create_task(sleeper(n)) for n in (3, 1, 2)]
    await asyncio.sleep(0)
    clock.jump(2)
    for _ in range(3):
        await asyncio.sleep(0)
    assert woke == [1, 2]
    clock.jump(5)
    await asyncio.gather(*tasks)
    assert woke == [1, 2, 3]


async def test_zero_sleep_yields_without_waiting() -> None:
    """``sleep(0)`` returns at once and leaves time alone."""
    clock = MockClock()
    await clock.sleep(0)
    assert clock.now() == 0.0


async def test_without_autojump_sleep_blocks() -> None:
    """A plain MockClock never moves on its own, so a sleeper keeps waiting."""
    clock = MockClock()
    task = asyncio.create_task(clock.sleep(1))
    for _ in range(50):
        await asyncio.sleep(0)
    assert not task.done()
    assert clock.now() == 0.0
    task.cancel()


async def test_autojump_finishes_long_sleep_at_once() -> None:
    """With autojump, ``await clock.sleep(30)`` returns immediately with ``now() == 30``."""
    clock = MockClock(autojump=True)
    await asyncio.wait_for(clock.sleep(30), timeout=1)
    assert clock.now() == 30.0


async def test_autojump_goes_to_the_earliest_sleeper_first() -> None:
    """Autojump advances to the next wake-up, so concurrent sleepers see their own deadlines."""
    clock = MockClock(autojump=True)
    seen: list[tuple[int, float]] = []

    async def sleeper(n: int) -> None:
        await clock.sleep(n)
        seen.append((n, clock.now()))

    await asyncio.wait_for(asyncio.gather(sleeper(5), sleeper(2)), timeout=1)
    assert seen == [(2, 2.0), (5, 5.0)]


async def test_autojump_can_be_switched_on_later() -> None:
    """The ``autojump`` property can be toggled."""
    clock = MockClock()
    assert clock.autojump is False
    clock.autojump = True
    await asyncio.wait_for(clock.sleep(3), timeout=1)
    assert clock.now() == 3.0


def test_mock_clock_fixture(mock_clock: MockClock) -> None:
    """The ``mock_clock`` fixture is a MockClock at 0 without autojump."""
    assert isinstance(mock_clock, MockClock)
    assert (mock_clock.now(), mock_clock.autojump) == (0.0, False)


async def test_autojump_clock_fixture(autojump_clock: MockClock) -> None:
    """The ``autojump_clock`` fixture jumps over sleeps."""
    assert autojump_clock.autojump is True
    await asyncio.wait_for(autojump_clock.sleep(60), timeout=1)
    assert autojump_clock.now() == 60.0


def test_fixtures_come_from_the_entry_point(pytestconfig: pytest.Config) -> None:
    """The fixtures are registered by the ``seawall.testing`` pytest11 plugin, not a conftest."""
    plugin = pytestconfig.pluginmanager.get_plugin("seawall")
    assert plugin is not None
    assert plugin.__name__ == "seawall.testing"


async def test_autojump_waits_for_real_idleness() -> None:
    """A task that yields many times before it sleeps is not overtaken: time jumps only when all wait."""
    clock = MockClock(autojump=True)
    woke: list[tuple[str, float]] = []

    async def long_sleeper() -> None:
        await clock.sleep(10)
        woke.append(("long", clock.now()))

    async def busy_then_short() -> None:
        for _ in range(50):  # busy for many loop turns before it sleeps (the old heuristic gave up at 8)
            await asyncio.sleep(0)
        await clock.sleep(1)
        woke.append(("short", clock.now()))

    await asyncio.gather(long_sleeper(), busy_then_short())
    assert woke == [("short", 1.0), ("long", 10.0)]


async def test_timeout_wheel_fires_on_the_mock_clock_without_ticking() -> None:
    """A deadline watched by the wheel fires when the mock clock passes it; no manual tick() needed."""
    from seawall.governance import TimeoutWheel

    clock = MockClock(autojump=True)
    wheel = TimeoutWheel(clock=clock)
    started = clock.now()

    async def hang() -> None:
        wheel.watch(2.0)
        await asyncio.Event().wait()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.ensure_future(hang())
    assert 2.0 <= clock.now() - started <= 2.0 + 0.005 + 1e-9


async def test_timeout_wheel_moves_on_across_float_boundaries() -> None:
    """Ticks whose boundary rounds below itself (0.015 // 0.005 == 2.0) still advance the wheel."""
    from seawall.governance import TimeoutWheel

    clock = MockClock(autojump=True)
    wheel = TimeoutWheel(clock=clock, resolution=0.005)

    async def hang() -> None:
        wheel.watch(0.5)
        await asyncio.Event().wait()

    with pytest.raises(asyncio.CancelledError):  # a stuck ticker would spin forever instead
        await asyncio.wait_for(asyncio.ensure_future(hang()), timeout=5.0)
    assert wheel.watched == 0
