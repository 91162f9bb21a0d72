"""Tests for seawall.limit.LeakyBucket."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.limit import LeakyBucket
from seawall.testing import MockClock


def test_first_request_goes_at_once() -> None:
    """An idle pacer lets the first request through with no wait."""
    pacer = LeakyBucket(rate=10, max_wait=1, clock=MockClock())
    assert pacer.reserve() == 0.0


def test_back_to_back_requests_are_spaced_one_interval_apart() -> None:
    """Requests arriving together are handed waits of 1/rate, 2/rate, ..."""
    pacer = LeakyBucket(rate=10, max_wait=1, clock=MockClock())
    waits = [pacer.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_cost_scales_with_n() -> None:
    """A request for n units is spaced n/rate after the previous one (Sentinel's costTime)."""
    pacer = LeakyBucket(rate=10, max_wait=1, clock=MockClock())
    assert pacer.reserve() == 0.0
    assert pacer.reserve(5) == pytest.approx(0.5)
    assert pacer.reserve(2) == pytest.approx(0.7)


def test_rejects_beyond_max_wait_and_reserves_nothing() -> None:
    """A wait longer than max_wait is refused, and the refusal leaves the schedule unchanged."""
    pacer = LeakyBucket(rate=10, max_wait=0.15, clock=MockClock())
    assert pacer.reserve() == 0.0
    assert pacer.reserve() == pytest.approx(0.1)
    assert pacer.reserve() is None
    assert pacer.reserve() is None
    assert pacer.statistics().backlog == pytest.approx(0.1)


def test_wait_equal_to_max_wait_is_accepted() -> None:
    """max_wait is inclusive: a wait of exactly max_wait is handed out."""
    pacer = LeakyBucket(rate=4, max_wait=0.25, clock=MockClock())
    assert pacer.reserve() == 0.0
    assert pacer.reserve() == 0.25


def test_no_burst_after_idle() -> None:
    """After a long idle period only one request goes at once; the next waits a full interval."""
    clock = MockClock()
    pacer = LeakyBucket(rate=2, max_wait=10, clock=clock)
    pacer.reserve()
    clock.jump(60)
    assert pacer.reserve() == 0.0
    assert pacer.reserve() == pytest.approx(0.5)


def test_zero_max_wait_never_queues() -> None:
    """With max_wait 0 a request either goes now or is refused."""
    clock = MockClock()
    pacer = LeakyBucket(rate=10, max_wait=0, clock=clock)
    assert pacer.reserve() == 0.0
    assert pacer.reserve() is None
    clock.jump(0.1)
    assert pacer.reserve() == 0.0


def test_try_acquire_only_admits_without_waiting() -> None:
    """try_acquire admits only when no wait is needed and never reserves a future slot."""
    clock = MockClock()
    pacer = LeakyBucket(rate=10, max_wait=1, clock=clock)
    assert pacer.try_acquire()
    assert not pacer.try_acquire()
    assert pacer.statistics().backlog == 0.0
    clock.jump(0.1)
    assert pacer.try_acquire()


def test_retry_after_is_time_until_reserve_is_accepted() -> None:
    """retry_after is how much sooner the schedule must drain for the wait to fit in max_wait."""
    clock = MockClock()
    pacer = LeakyBucket(rate=10, max_wait=0.2, clock=clock)
    assert pacer.retry_after() == 0.0
    for _ in range(3):
        pacer.reserve()
    assert pacer.reserve() is None
    assert pacer.retry_after() == pytest.approx(0.1)
    clock.jump(pacer.retry_after())
    assert pacer.reserve() == pytest.approx(0.2)


async def test_acquire_sleeps_on_the_clock() -> None:
    """acquire() waits for its slot on the injected clock, not the OS clock."""
    clock = MockClock(autojump=True)
    pacer = LeakyBucket(rate=10, max_wait=1, clock=clock)
    times = []
    for _ in range(3):
        assert await pacer.acquire()
        times.append(clock.now())
    assert times == pytest.approx([0.0, 0.1, 0.2])


async def test_acquire_refused_returns_false_at_once() -> None:
    """acquire() returns False without sleeping when the wait would exceed max_wait."""
    clock = MockClock()
    pacer = LeakyBucket(rate=1, max_wait=0.5, clock=clock)
    assert await pacer.acquire()
    assert await asyncio.wait_for(pacer.acquire(), timeout=1) is False
    assert clock.now() == 0.0


def test_statistics_counts_outcomes() -> None:
    """statistics() separates immediate, delayed and rejected requests, and is frozen."""
    pacer = LeakyBucket(rate=10, max_wait=0.1, clock=MockClock())
    pacer.reserve()
    pacer.reserve()
    pacer.reserve()
    stats = pacer.statistics()
    assert (stats.admitted, stats.delayed, stats.rejected) == (2, 1, 1)
    assert (stats.rate, stats.max_wait) == (10.0, 0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.rejected = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0, "max_wait": 1}, "rate must be > 0"),
        ({"rate": math.inf, "max_wait": 1}, "rate must be > 0"),
        ({"rate": 1, "max_wait": -0.1}, "max_wait must be >= 0"),
        ({"rate": 1, "max_wait": math.nan}, "max_wait must be >= 0"),
    ],
)
def test_validates_configuration(kwargs: dict[str, float], message: str) -> None:
    """Bad configuration fails at construction with a precise message."""
    with pytest.raises(ValueError, match=message):
        LeakyBucket(clock=MockClock(), **kwargs)


@pytest.mark.parametrize("method", ["reserve", "try_acquire"])
def test_n_must_be_positive(method: str) -> None:
    """reserve and try_acquire reject n < 1."""
    pacer = LeakyBucket(rate=1, max_wait=1, clock=MockClock())
    with pytest.raises(ValueError, match="n must be >= 1"):
        getattr(pacer, method)(0)


def test_repr_shows_configuration() -> None:
    """repr() names the rate and max_wait."""
    pacer = LeakyBucket(rate=5, max_wait=0.5, clock=MockClock())
    assert repr(pacer) == "LeakyBucket(rate=5.0, max_wait=0.5)"
    assert (pacer.rate, pacer.max_wait) == (5.0, 0.5)


@given(
    gaps=st.lists(st.floats(0, 0.5), min_size=1, max_size=60),
    rate=st.floats(0.5, 50),
    max_wait=st.floats(0, 2),
)
def test_admitted_requests_proceed_at_least_one_interval_apart(
    gaps: list[float], rate: float, max_wait: float
) -> None:
    """Whatever the arrivals, admitted requests proceed 1/rate apart and never wait past max_wait."""
    clock = MockClock()
    pacer = LeakyBucket(rate=rate, max_wait=max_wait, clock=clock)
    go_times = []
    for gap in gaps:
        clock.jump(gap)
        wait = pacer.reserve()
        if wait is not None:
            assert 0.0 <= wait <= max_wait
            go_times.append(clock.now() + wait)
    for earlier, later in itertools.pairwise(go_times):
        assert later - earlier >= 1 / rate - 1e-9
