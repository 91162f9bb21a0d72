"""Tests for seawall.parallel.map."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall import parallel
from seawall.errors import DeadlineExceeded
from seawall.testing import MockClock

from .par_support import Probe, deadline_in


async def test_results_in_input_order() -> None:
    """Results follow the inputs even when calls finish in reverse order."""
    events = {i: asyncio.Event() for i in range(5)}

    async def fn(i: int) -> str:
        await events[i].wait()
        return f"r{i}"

    task = asyncio.create_task(parallel.map(fn, range(5)))
    for i in reversed(range(5)):
        await asyncio.sleep(0)
        events[i].set()
    assert await task == ["r0", "r1", "r2", "r3", "r4"]


async def test_default_limit_is_go_zeros_sixteen() -> None:
    """By default at most 16 calls are in progress (go-zero mr's default workers)."""
    probe = Probe()
    results = await parallel.map(probe.work, range(40))
    assert results == [i * 10 for i in range(40)]
    assert probe.peak == parallel.DEFAULT_LIMIT == 16


@pytest.mark.parametrize(("limit", "peak"), [(1, 1), (4, 4), (None, 30)])
async def test_limit_bounds_concurrency(limit: int | None, peak: int) -> None:
    """The most calls in progress at once is the limit (all of them without one)."""
    probe = Probe()
    await parallel.map(probe.work, range(30), limit=limit)
    assert probe.peak == peak


async def test_fn_is_called_only_when_a_slot_is_free() -> None:
    """fn(item) is not even called until the item's turn, so no coroutine waits unstarted."""
    gate = asyncio.Event()
    called: list[int] = []

    async def fn(i: int) -> int:
        called.append(i)
        await gate.wait()
        return i

    task = asyncio.create_task(parallel.map(fn, range(6), limit=2))
    for _ in range(5):
        await asyncio.sleep(0)
    assert called == [0, 1]
    gate.set()
    assert await task == list(range(6))


async def test_accepts_any_iterable() -> None:
    """Items may come from a generator."""
    probe = Probe()
    assert await parallel.map(probe.work, (i for i in range(3))) == [0, 10, 20]


async def test_first_error_cancels_the_rest() -> None:
    """By default the first error cancels calls in progress, starts no more, and is raised."""
    called: list[int] = []
    cancelled: list[int] = []

    async def fn(i: int) -> int:
        called.append(i)
        if i == 1:
            raise ValueError("item 1")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    with pytest.raises(ValueError, match="item 1"):
        await parallel.map(fn, range(10), limit=3)
    assert called == [0, 1, 2]
    assert sorted(cancelled) == [0, 2]


async def test_return_exceptions_keeps_partial_results() -> None:
    """With return_exceptions, every item runs and a failed one's slot holds its exception."""
    errors = {2: KeyError("two"), 4: ValueError("four")}

    async def fn(i: int) -> int:
        await asyncio.sleep(0)
        if i in errors:
            raise errors[i]
        return i * 10

    results = await parallel.map(fn, range(6), limit=2, return_exceptions=True)
    assert results == [0, 10, errors[2], 30, errors[4], 50]
    assert results[2] is errors[2]


async def test_return_exceptions_collects_a_self_cancelled_item() -> None:
    """An item that cancels itself is collected as CancelledError, as asyncio.gather does."""

    async def fn(i: int) -> int:
        if i == 0:
            raise asyncio.CancelledError
        return i

    results = await parallel.map(fn, range(2), return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1] == 1


async def test_return_exceptions_still_obeys_caller_cancellation() -> None:
    """Cancelling the caller stops the work rather than collecting its CancelledError and going on."""
    started: list[int] = []
    cancelled: list[int] = []

    async def fn(i: int) -> int:
        started.append(i)
        if i > 0:
            return i
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    task = asyncio.create_task(parallel.map(fn, range(3), limit=1, return_exceptions=True))
    for _ in range(3):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (started, cancelled) == ([0], [0])


async def test_deadline_fails_unstarted_items(autojump_clock: MockClock) -> None:
    """Past the deadline unstarted items fail with DeadlineExceeded in their slots; finished ones stay."""
    clock = autojump_clock

    async def step(i: int) -> int:
        await clock.sleep(0.4)
        return i

    with deadline_in(1.0, clock):
        results = await parallel.map(step, range(5), limit=1, return_exceptions=True)
    # Items start at 0, 0.4 and 0.8 s; at 1.2 s the deadline has passed.
    assert results[:3] == [0, 1, 2]
    assert all(isinstance(r, DeadlineExceeded) for r in results[3:])
    assert results[3] is not results[4]
    assert clock.now() == pytest.approx(1.2)


async def test_deadline_lets_running_items_finish_with_return_exceptions(autojump_clock: MockClock) -> None:
    """With return_exceptions, work already running when the deadline nears is not cancelled."""
    clock = autojump_clock
    durations = [2.0, 0.5, 0.5, 0.5]

    async def step(i: int) -> int:
        await clock.sleep(durations[i])
        return i

    with deadline_in(1.0, clock):
        results = await parallel.map(step, range(4), limit=2, return_exceptions=True, min_remaining=0.2)
    # 0 and 1 start at 0 s; 2 starts at 0.5 s; at 1.0 s (2 done) 0 s are left < 0.2: 3 never starts.
    assert results[:3] == [0, 1, 2]
    assert isinstance(results[3], DeadlineExceeded)
    assert clock.now() == pytest.approx(2.0)


async def test_deadline_raises_without_return_exceptions() -> None:
    """Without return_exceptions a spent deadline raises DeadlineExceeded and calls nothing."""
    clock = MockClock()
    probe = Probe()
    with deadline_in(0.05, clock), pytest.raises(DeadlineExceeded):
        await parallel.map(probe.work, range(3), min_remaining=0.1)
    assert probe.started == []


async def test_empty() -> None:
    """No items give an empty list."""
    probe = Probe()
    assert await parallel.map(probe.work, []) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit must be >= 1"),
        ({"min_remaining": float("inf")}, "min_remaining must be >= 0 and finite"),
    ],
)
async def test_rejects_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    """Invalid arguments fail at once with a precise message."""
    probe = Probe()
    with pytest.raises(ValueError, match=message):
        await parallel.map(probe.work, range(3), **kwargs)
    assert probe.started == []


@given(
    n=st.integers(min_value=0, max_value=30),
    limit=st.none() | st.integers(min_value=1, max_value=8),
    yields=st.lists(st.integers(min_value=0, max_value=4), min_size=30, max_size=30),
    failing=st.sets(st.integers(min_value=0, max_value=29)),
)
def test_order_bound_and_partial_results_hold_for_any_schedule(
    n: int, limit: int | None, yields: list[int], failing: set[int]
) -> None:
    """Whatever the interleaving: input order, at most ``limit`` at once, each failure in its own slot."""
    probe = Probe()
    errors = {i: ValueError(i) for i in failing}

    async def fn(i: int) -> int:
        value = await probe.work(i, yields=yields[i])
        if i in errors:
            raise errors[i]
        return value

    results = asyncio.run(parallel.map(fn, range(n), limit=limit, return_exceptions=True))
    assert results == [errors.get(i, i * 10) for i in range(n)]
    assert probe.peak <= (n if limit is None else limit)
