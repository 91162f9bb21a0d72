"""Tests for seawall.parallel.gather."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine
from typing import Any

import pytest

from seawall import deadline, parallel
from seawall.errors import DeadlineExceeded
from seawall.testing import MockClock

from .par_support import Probe, deadline_in


async def _wait_then(event: asyncio.Event, value: int) -> int:
    await event.wait()
    return value


async def _fail(error: BaseException) -> int:
    raise error


async def test_results_in_argument_order() -> None:
    """Results follow the arguments, not the order in which they finish."""
    events = [asyncio.Event() for _ in range(3)]
    task = asyncio.create_task(parallel.gather(*(_wait_then(e, i) for i, e in enumerate(events))))
    for e in reversed(events):
        await asyncio.sleep(0)
        e.set()
    assert await task == [0, 1, 2]


async def test_empty() -> None:
    """Nothing to await gives an empty list."""
    assert await parallel.gather() == []


async def test_unbounded_runs_everything_at_once() -> None:
    """Without a limit every awaitable is in progress at the same time."""
    probe = Probe()
    assert await parallel.gather(*(probe.work(i) for i in range(10))) == [i * 10 for i in range(10)]
    assert probe.peak == 10


@pytest.mark.parametrize("limit", [1, 3, 7])
async def test_limit_bounds_concurrency(limit: int) -> None:
    """With a limit, the most in progress at once is exactly the limit."""
    probe = Probe()
    results = await parallel.gather(*(probe.work(i) for i in range(10)), limit=limit)
    assert results == [i * 10 for i in range(10)]
    assert probe.peak == limit


async def test_limit_starts_coroutines_only_when_their_turn_comes() -> None:
    """A coroutine past the limit does not begin until a slot frees."""
    events = [asyncio.Event() for _ in range(4)]
    started: list[int] = []

    async def item(i: int) -> int:
        started.append(i)
        await events[i].wait()
        return i

    task = asyncio.create_task(parallel.gather(*(item(i) for i in range(4)), limit=2))
    for _ in range(5):
        await asyncio.sleep(0)
    assert started == [0, 1]
    events[1].set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert started == [0, 1, 2]
    for e in events:
        e.set()
    assert await task == [0, 1, 2, 3]


async def test_first_error_cancels_siblings() -> None:
    """When one fails, the others in progress are cancelled, and the error itself is raised."""
    cancelled: list[int] = []

    async def sibling(i: int) -> int:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    with pytest.raises(ValueError, match="boom"):
        await parallel.gather(sibling(0), _fail(ValueError("boom")), sibling(2))
    assert sorted(cancelled) == [0, 2]


async def test_first_error_in_time_wins() -> None:
    """With several errors, the first to happen is raised; later ones (here, raised while being
    cancelled) are dropped."""

    async def fails_when_cancelled() -> int:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("during cancellation") from None
        return 0

    with pytest.raises(KeyError):
        await parallel.gather(fails_when_cancelled(), _fail(KeyError("first")))


async def test_error_is_not_wrapped_in_a_group() -> None:
    """Unlike asyncio.TaskGroup, the caller gets the exception itself, not an ExceptionGroup."""
    with pytest.raises(ZeroDivisionError) as info:
        await parallel.gather(_fail(ZeroDivisionError()))
    assert not isinstance(info.value, BaseExceptionGroup)


async def test_unstarted_coroutines_are_closed() -> None:
    """Coroutines that never got their turn are closed (no "never awaited" warning)."""
    later: list[Coroutine[Any, Any, int]] = [_wait_then(asyncio.Event(), i) for i in range(3)]
    with pytest.raises(ValueError, match="x"):
        await parallel.gather(_fail(ValueError("x")), *later, limit=1)
    assert [inspect.getcoroutinestate(c) for c in later] == [inspect.CORO_CLOSED] * 3


async def test_running_future_is_cancelled_on_error() -> None:
    """A future passed in is cancelled when a sibling fails."""
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    with pytest.raises(ValueError, match="y"):
        await parallel.gather(future, _fail(ValueError("y")))
    assert future.cancelled()


async def test_unstarted_future_is_cancelled_on_error() -> None:
    """A future that was never awaited is cancelled too, rather than left to run orphaned."""
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    with pytest.raises(ValueError, match="z"):
        await parallel.gather(_fail(ValueError("z")), future, limit=1)
    assert future.cancelled()


async def test_caller_cancellation_cancels_children() -> None:
    """Cancelling the caller cancels every child and waits for them before propagating."""
    cleaned: list[int] = []

    async def child(i: int) -> int:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.append(i)
        return i

    task = asyncio.create_task(parallel.gather(child(0), child(1)))
    for _ in range(3):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cleaned) == [0, 1]


async def test_child_cancelling_itself_raises_cancelled() -> None:
    """A child that ends cancelled on its own fails the gather with CancelledError, as asyncio.gather."""

    async def self_cancelled() -> int:
        raise asyncio.CancelledError

    sibling = _wait_then(asyncio.Event(), 1)
    with pytest.raises(asyncio.CancelledError):
        await parallel.gather(self_cancelled(), sibling)
    assert inspect.getcoroutinestate(sibling) == inspect.CORO_CLOSED


async def test_children_see_the_callers_context() -> None:
    """Children run in a copy of the caller's context (contextvars such as the deadline)."""
    clock = MockClock()

    async def left() -> float | None:
        return deadline.remaining()

    with deadline_in(2.0, clock):
        assert await parallel.gather(left(), left()) == [2.0, 2.0]


async def test_spent_deadline_starts_nothing() -> None:
    """With the deadline spent, nothing starts and DeadlineExceeded is raised."""
    clock = MockClock()
    probe = Probe()
    coros = [probe.work(i) for i in range(3)]
    with deadline_in(1.0, clock):
        clock.jump(1.0)
        with pytest.raises(DeadlineExceeded):
            await parallel.gather(*coros)
    assert probe.started == []
    assert all(inspect.getcoroutinestate(c) == inspect.CORO_CLOSED for c in coros)


async def test_min_remaining_is_the_cut_off() -> None:
    """Work starts only with at least min_remaining seconds left."""
    clock = MockClock()
    probe = Probe()
    with deadline_in(0.3, clock):
        assert await parallel.gather(probe.work(1), min_remaining=0.3) == [10]
        with pytest.raises(DeadlineExceeded):
            await parallel.gather(probe.work(2), min_remaining=0.31)
    assert probe.started == [1]


async def test_deadline_stops_starting_new_work(autojump_clock: MockClock) -> None:
    """Once the deadline passes nothing more starts, the work in progress is cancelled and
    DeadlineExceeded is raised."""
    clock = autojump_clock
    durations = [0.6, 0.5, 0.6, 2.0, 0.1, 0.1]
    started: list[int] = []
    cancelled: list[int] = []

    async def step(i: int) -> int:
        started.append(i)
        try:
            await clock.sleep(durations[i])
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    with deadline_in(1.0, clock), pytest.raises(DeadlineExceeded):
        await parallel.gather(*(step(i) for i in range(len(durations))), limit=2)
    # 0 and 1 start at 0 s, 2 at 0.5 s, 3 at 0.6 s; at 1.1 s (2 done) the deadline has passed.
    assert started == [0, 1, 2, 3]
    assert cancelled == [3]
    assert clock.now() == pytest.approx(1.1)


async def test_no_deadline_no_cut_off() -> None:
    """Outside a request (no deadline) everything runs."""
    probe = Probe()
    assert await parallel.gather(*(probe.work(i) for i in range(3)), min_remaining=5.0) == [0, 10, 20]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit must be >= 1"),
        ({"min_remaining": -1.0}, "min_remaining must be >= 0 and finite"),
        ({"min_remaining": float("nan")}, "min_remaining must be >= 0 and finite"),
    ],
)
async def test_rejects_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    """Invalid arguments fail at once with a precise message; the awaitables are released."""
    coro = _wait_then(asyncio.Event(), 1)
    with pytest.raises(ValueError, match=message):
        await parallel.gather(coro, **kwargs)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
