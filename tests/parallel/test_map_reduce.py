"""Tests for seawall.parallel.map_reduce (go-zero mr.MapReduce semantics)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from seawall import parallel
from seawall.errors import DeadlineExceeded
from seawall.testing import MockClock

from .par_support import Probe, deadline_in


async def _total(values: AsyncIterator[int]) -> int:
    return sum([v async for v in values])


async def _collect(values: AsyncIterator[int]) -> list[int]:
    return [v async for v in values]


async def _square(i: int) -> int:
    await asyncio.sleep(0)
    return i * i


async def test_sums_squares() -> None:
    """go-zero's example: the sum of squares of 1..10 is 385."""
    assert await parallel.map_reduce(range(1, 11), _square, _total) == 385


async def test_async_generator_source() -> None:
    """Items may be streamed by an async generator."""

    async def numbers() -> AsyncIterator[int]:
        for i in range(1, 4):
            await asyncio.sleep(0)
            yield i

    assert await parallel.map_reduce(numbers(), _square, _total) == 14


async def test_values_arrive_in_completion_order() -> None:
    """The reducer sees mapped values as mappers finish, not in input order (go-zero's pipe)."""
    events = {i: asyncio.Event() for i in range(3)}

    async def mapper(i: int) -> int:
        await events[i].wait()
        return i

    task = asyncio.create_task(parallel.map_reduce(range(3), mapper, _collect))
    for i in (2, 0, 1):
        await asyncio.sleep(0)
        events[i].set()
    assert await task == [2, 0, 1]


@pytest.mark.parametrize("workers", [1, 3, 16])
async def test_workers_bound_concurrency(workers: int) -> None:
    """At most ``workers`` mappers run at once."""
    probe = Probe()
    assert await parallel.map_reduce(range(40), probe.work, _total, workers=workers) == 10 * sum(range(40))
    assert probe.peak == workers


async def test_default_workers_is_sixteen() -> None:
    """go-zero's default of 16 workers."""
    probe = Probe()
    await parallel.map_reduce(range(40), probe.work, _total)
    assert probe.peak == 16


async def test_buffer_applies_backpressure() -> None:
    """Mappers wait when ``workers`` values are unread: a stalled reducer stalls the mapping."""
    gate = asyncio.Event()
    mapped: list[int] = []

    async def mapper(i: int) -> int:
        mapped.append(i)
        return i

    async def slow(values: AsyncIterator[int]) -> int:
        await gate.wait()
        return await _total(values)

    task = asyncio.create_task(parallel.map_reduce(range(20), mapper, slow, workers=2))
    for _ in range(20):
        await asyncio.sleep(0)
    # Two values buffered, and each of the two workers holds one more it cannot put.
    assert len(mapped) == 4
    gate.set()
    assert await task == sum(range(20))


async def test_mapper_error_cancels_everything() -> None:
    """A mapper's error (go-zero's cancel(err)) cancels the other mappers and the reducer and is raised."""
    cancelled: list[str] = []

    async def mapper(i: int) -> int:
        if i == 3:
            raise ValueError("bad item")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(f"m{i}")
            raise
        return i

    async def reducer(values: AsyncIterator[int]) -> int:
        try:
            return await _total(values)
        except asyncio.CancelledError:
            cancelled.append("reducer")
            raise

    with pytest.raises(ValueError, match="bad item"):
        await parallel.map_reduce(range(10), mapper, reducer, workers=4)
    assert sorted(cancelled) == ["m0", "m1", "m2", "reducer"]


async def test_reducer_error_is_raised() -> None:
    """A reducer's error cancels the mappers and is raised."""

    async def reducer(values: AsyncIterator[int]) -> int:
        async for v in values:
            if v == 4:
                raise LookupError("reducer gave up")
        return 0

    with pytest.raises(LookupError, match="reducer gave up"):
        await parallel.map_reduce(range(100), _square, reducer)


async def test_source_error_is_raised() -> None:
    """An error raised while generating items cancels the operation and is raised."""

    def items() -> Iterator[int]:
        yield 1
        raise OSError("source broke")

    with pytest.raises(OSError, match="source broke"):
        await parallel.map_reduce(items(), _square, _total)


async def test_reducer_may_stop_early() -> None:
    """A reducer that returns before reading everything stops the mapping; its value is the result."""
    mapped: list[int] = []

    async def mapper(i: int) -> int:
        mapped.append(i)
        await asyncio.sleep(0)
        return i

    async def first_over_five(values: AsyncIterator[int]) -> int:
        async for v in values:
            if v > 5:
                return v
        return -1

    assert await parallel.map_reduce(range(1000), mapper, first_over_five, workers=2) == 6
    assert len(mapped) < 20


async def test_source_generator_is_closed() -> None:
    """An async generator source is closed when the operation ends early."""
    closed: list[bool] = []

    async def numbers() -> AsyncIterator[int]:
        try:
            for i in range(1000):
                yield i
        finally:
            closed.append(True)

    async def first(values: AsyncIterator[int]) -> int:
        async for v in values:
            return v
        return -1

    gen = numbers()
    await parallel.map_reduce(gen, _square, first, workers=1)
    assert closed == [True]


async def test_reducer_sees_an_empty_stream() -> None:
    """With no items the reducer runs on an empty stream."""
    assert await parallel.map_reduce([], _square, _collect) == []


async def test_caller_cancellation_cancels_everything() -> None:
    """Cancelling the caller cancels mappers and reducer before propagating."""
    cancelled: list[int] = []

    async def mapper(i: int) -> int:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    task = asyncio.create_task(parallel.map_reduce(range(5), mapper, _total, workers=2))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == [0, 1]


async def test_deadline_stops_mapping(autojump_clock: MockClock) -> None:
    """Once the deadline is spent no more items are mapped and DeadlineExceeded is raised."""
    clock = autojump_clock
    started: list[int] = []

    async def step(i: int) -> int:
        started.append(i)
        await clock.sleep(0.4)
        return i

    with deadline_in(1.0, clock), pytest.raises(DeadlineExceeded):
        await parallel.map_reduce(range(10), step, _total, workers=1)
    assert started == [0, 1, 2]


async def test_spent_deadline_maps_nothing() -> None:
    """With less than min_remaining left, nothing is mapped."""
    clock = MockClock()
    probe = Probe()
    with deadline_in(0.5, clock), pytest.raises(DeadlineExceeded):
        await parallel.map_reduce(range(3), probe.work, _total, min_remaining=0.6)
    assert probe.started == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, "workers must be >= 1"),
        ({"min_remaining": -0.1}, "min_remaining must be >= 0 and finite"),
    ],
)
async def test_rejects_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    """Invalid arguments fail at once with a precise message."""
    with pytest.raises(ValueError, match=message):
        await parallel.map_reduce(range(3), _square, _total, **kwargs)
