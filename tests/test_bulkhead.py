"""The Bulkhead primitive: bounded concurrency, a bounded FIFO wait queue, time-limited waits."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from seawall.bulkhead import Bulkhead, BulkheadStatistics
from seawall.testing import MockClock


async def settle(predicate: Any, rounds: int = 100) -> None:
    """Let other tasks run (no time passes) until ``predicate()`` holds."""
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached after the event loop went idle")


def queued(bulkhead: Bulkhead, n: int) -> Any:
    return lambda: bulkhead.statistics().queued == n


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_concurrent": 0}, "max_concurrent must be >= 1"),
        ({"max_concurrent": 1, "max_queue": -1}, "max_queue must be >= 0"),
        ({"max_concurrent": 1, "max_wait": -0.1}, "max_wait must be >= 0"),
    ],
)
def test_arguments_are_checked(kwargs: dict[str, Any], message: str) -> None:
    """Nonsensical limits raise a precise ValueError."""
    with pytest.raises(ValueError, match=message):
        Bulkhead(**kwargs)


def test_try_acquire_admits_up_to_max_concurrent() -> None:
    """``try_acquire`` takes free slots and refuses once all are held."""
    bulkhead = Bulkhead(max_concurrent=2)
    assert [bulkhead.try_acquire() for _ in range(3)] == [True, True, False]
    assert bulkhead.statistics().running == 2


def test_release_frees_a_slot() -> None:
    """After a release with nobody waiting, the slot is free again."""
    bulkhead = Bulkhead(max_concurrent=1)
    assert bulkhead.try_acquire()
    bulkhead.release()
    assert bulkhead.statistics().running == 0
    assert bulkhead.try_acquire()


def test_release_without_acquire_raises() -> None:
    """A release with no slot held is a RuntimeError, not a silent negative count."""
    bulkhead = Bulkhead(max_concurrent=1)
    with pytest.raises(RuntimeError, match="release\\(\\) without a matching acquire\\(\\)"):
        bulkhead.release()
    assert bulkhead.statistics().running == 0


async def test_acquire_without_wait_rejects_at_once(mock_clock: MockClock) -> None:
    """With ``max_wait=0`` a full bulkhead refuses at once even if the queue has room."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=5, max_wait=0, clock=mock_clock)
    assert await bulkhead.acquire()
    assert not await bulkhead.acquire()
    stats = bulkhead.statistics()
    assert (stats.queued, stats.rejected) == (0, 1)


async def test_waiters_are_served_first_come_first_served(mock_clock: MockClock) -> None:
    """Three queued waiters get the slot in the order they arrived."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=3, max_wait=10, clock=mock_clock)
    assert bulkhead.try_acquire()
    order: list[int] = []

    async def waiter(i: int) -> None:
        assert await bulkhead.acquire()
        order.append(i)
        bulkhead.release()

    tasks = []
    for i in range(3):
        tasks.append(asyncio.create_task(waiter(i)))
        await settle(queued(bulkhead, i + 1))
    bulkhead.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    stats = bulkhead.statistics()
    assert (stats.running, stats.queued, stats.admitted) == (0, 0, 4)


async def test_release_hands_the_slot_to_the_waiter(mock_clock: MockClock) -> None:
    """A release with a waiter passes the slot on: ``running`` stays at the limit and
    ``try_acquire`` cannot take it meanwhile."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait=10, clock=mock_clock)
    assert bulkhead.try_acquire()
    task = asyncio.create_task(bulkhead.acquire())
    await settle(queued(bulkhead, 1))
    bulkhead.release()
    assert bulkhead.statistics().running == 1
    assert not bulkhead.try_acquire()
    assert await task


async def test_queue_is_bounded(mock_clock: MockClock) -> None:
    """With ``max_queue=1`` and one waiter queued, the next acquire is refused at once."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait=10, clock=mock_clock)
    assert bulkhead.try_acquire()
    waiting = asyncio.create_task(bulkhead.acquire())
    await settle(queued(bulkhead, 1))
    assert not await bulkhead.acquire()
    assert bulkhead.statistics().rejected == 1
    bulkhead.release()
    assert await waiting


async def test_wait_runs_out_after_max_wait(autojump_clock: MockClock) -> None:
    """A waiter not served within ``max_wait`` gets False at exactly ``max_wait`` and is counted."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait=2.5, clock=autojump_clock)
    assert bulkhead.try_acquire()
    assert not await bulkhead.acquire()
    assert autojump_clock.now() == 2.5
    stats = bulkhead.statistics()
    assert (stats.queued, stats.timed_out, stats.rejected, stats.running) == (0, 1, 0, 1)


async def test_wait_is_not_cut_short(mock_clock: MockClock) -> None:
    """Before ``max_wait`` has passed the waiter is still queued."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait=2.0, clock=mock_clock)
    assert bulkhead.try_acquire()
    task = asyncio.create_task(bulkhead.acquire())
    await settle(queued(bulkhead, 1))
    await asyncio.sleep(0)  # let the wait's timer start
    mock_clock.jump(1.9)
    await asyncio.sleep(0)
    assert not task.done()
    mock_clock.jump(0.1)
    assert not await task
    assert bulkhead.statistics().timed_out == 1


async def test_cancelled_waiter_leaves_the_queue_without_a_slot(mock_clock: MockClock) -> None:
    """Cancelling a waiter removes it from the queue; the holder's release then frees the slot."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait=10, clock=mock_clock)
    assert bulkhead.try_acquire()
    task = asyncio.create_task(bulkhead.acquire())
    await settle(queued(bulkhead, 1))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bulkhead.statistics().queued == 0
    bulkhead.release()
    assert bulkhead.statistics().running == 0
    assert bulkhead.try_acquire()


async def test_cancel_just_after_hand_off_passes_the_slot_on(mock_clock: MockClock) -> None:
    """A waiter cancelled after a release handed it the slot, but before it ran, gives the slot
    to the next waiter instead of leaking it."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=2, max_wait=10, clock=mock_clock)
    assert bulkhead.try_acquire()
    first = asyncio.create_task(bulkhead.acquire())
    await settle(queued(bulkhead, 1))
    second = asyncio.create_task(bulkhead.acquire())
    await settle(queued(bulkhead, 2))
    bulkhead.release()  # hands the slot to `first`...
    first.cancel()  # ...which is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second
    bulkhead.release()
    stats = bulkhead.statistics()
    assert (stats.running, stats.queued) == (0, 0)


async def test_cancel_after_hand_off_with_nobody_behind_frees_the_slot(mock_clock: MockClock) -> None:
    """The same, with no other waiter: the slot goes back to the pool."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait=10, clock=mock_clock)
    assert bulkhead.try_acquire()
    task = asyncio.create_task(bulkhead.acquire())
    await settle(queued(bulkhead, 1))
    bulkhead.release()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bulkhead.statistics().running == 0
    assert bulkhead.try_acquire()


async def test_statistics_count_every_outcome(autojump_clock: MockClock) -> None:
    """admitted, rejected and timed_out each count their own outcomes."""
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait=1.0, clock=autojump_clock)
    assert await bulkhead.acquire()  # admitted
    waiting = asyncio.create_task(bulkhead.acquire())
    await settle(queued(bulkhead, 1))
    assert not await bulkhead.acquire()  # rejected: queue full
    assert not await waiting  # timed out
    assert bulkhead.statistics() == BulkheadStatistics(
        max_concurrent=1, running=1, queued=0, admitted=1, rejected=1, timed_out=1
    )


def test_statistics_are_a_frozen_snapshot() -> None:
    """A statistics object does not change with the bulkhead and cannot be assigned to."""
    bulkhead = Bulkhead(max_concurrent=1)
    before = bulkhead.statistics()
    bulkhead.try_acquire()
    assert before.running == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.running = 5  # type: ignore[misc]


async def test_noop_bulkhead_always_admits() -> None:
    """NoopBulkhead admits everything at once and reports nothing."""
    from seawall.bulkhead import NoopBulkhead

    noop = NoopBulkhead()
    assert noop.try_acquire()
    assert await noop.acquire()
    noop.release()
    assert noop.statistics().admitted == 0
