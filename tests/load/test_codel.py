"""Tests for seawall.load.CoDel (folly ``Codel`` semantics) and NoopCoDel."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.load import CoDel, NoopCoDel, QueueDelayGate
from seawall.testing import MockClock

# folly defaults: target 5 ms, interval 100 ms, slough timeout 2 x target = 10 ms.
T = 0.005
SLOUGH = 0.010


def _overloaded_codel(clock: MockClock, delay: float = 0.020) -> CoDel:
    """A CoDel whose first interval (seeded by one call) had a minimum of ``delay``, now closed."""
    codel = CoDel(clock=clock)
    assert not codel.should_reject(delay)  # seeds the first interval's minimum
    clock.jump(0.001)
    assert not codel.should_reject(delay)  # closes it: overloaded iff delay > target
    return codel


def test_folly_defaults() -> None:
    """Target 5 ms, interval 100 ms and slough timeout 10 ms, as folly's flags and getSloughTimeout."""
    codel = CoDel(clock=MockClock())
    assert (codel.target, codel.interval, codel.slough_timeout) == (0.005, 0.1, 0.010)


def test_satisfies_protocol() -> None:
    """CoDel and NoopCoDel are QueueDelayGates."""
    assert isinstance(CoDel(clock=MockClock()), QueueDelayGate)
    assert isinstance(NoopCoDel(), QueueDelayGate)


def test_first_call_only_seeds_the_minimum() -> None:
    """The first call is never rejected, however long it waited, and sets the minimum."""
    codel = CoDel(clock=MockClock())
    assert not codel.should_reject(5.0)
    assert codel.min_delay == 5.0
    assert not codel.overloaded


def test_min_delay_above_target_enters_overload() -> None:
    """An interval whose minimum delay is just above target makes the next one overloaded."""
    clock = MockClock()
    codel = _overloaded_codel(clock, delay=T + 1e-6)
    assert codel.overloaded


def test_min_delay_at_target_is_not_overload() -> None:
    """A minimum exactly at target is not overload: folly compares minDelay > targetDelay."""
    clock = MockClock()
    codel = _overloaded_codel(clock, delay=T)
    assert not codel.overloaded


def test_overloaded_rejects_only_above_twice_target() -> None:
    """While overloaded, a delay of exactly 2 x target passes and anything above is sloughed."""
    clock = MockClock()
    codel = _overloaded_codel(clock)
    assert not codel.should_reject(SLOUGH)
    assert codel.should_reject(SLOUGH + 1e-6)


def test_not_overloaded_never_rejects() -> None:
    """Outside overload, even a long wait is admitted (a burst, not a standing queue)."""
    clock = MockClock()
    codel = CoDel(clock=clock)
    codel.should_reject(0.001)
    clock.jump(0.001)
    codel.should_reject(0.001)
    assert not codel.overloaded
    assert not codel.should_reject(1.0)


def test_one_short_wait_in_an_interval_leaves_overload() -> None:
    """If any request of an overloaded interval waited <= target, the next interval is not overloaded."""
    clock = MockClock()
    codel = _overloaded_codel(clock)
    assert codel.should_reject(0.050)
    codel.should_reject(0.004)  # the queue emptied once
    clock.jump(0.200)  # past the deadline set at t=0.001 (0.101)
    assert not codel.should_reject(0.050)
    assert not codel.overloaded
    assert not codel.should_reject(0.050)


def test_interval_ends_strictly_after_its_deadline() -> None:
    """A call exactly at the deadline is still in the interval; the first call after it closes it."""
    clock = MockClock()
    codel = _overloaded_codel(clock)  # interval deadline: 0.001 + 0.100
    codel.should_reject(0.001)  # this interval's minimum is now under target
    clock.jump(0.100)  # 0.001 + 0.100: the deadline, computed with the same float addition
    assert codel.should_reject(0.050)  # still overloaded: the interval is not over
    clock.jump(1e-9)
    assert not codel.should_reject(0.050)
    assert not codel.overloaded


def test_call_that_opens_an_interval_is_never_rejected() -> None:
    """The first call of each interval only re-seeds the minimum, even while overloaded."""
    clock = MockClock()
    codel = _overloaded_codel(clock)
    clock.jump(0.2)
    assert not codel.should_reject(1.0)  # opens a new interval, stays overloaded (min 20 ms)
    assert codel.overloaded
    assert codel.min_delay == 1.0
    assert codel.should_reject(1.0)


def test_intervals_are_counted_from_calls_not_time() -> None:
    """After an idle hour, the next interval runs for interval seconds from the first call."""
    clock = MockClock()
    codel = _overloaded_codel(clock)
    clock.jump(3600)
    codel.should_reject(0.020)  # opens an interval ending 100 ms from now
    clock.jump(0.099)
    assert codel.should_reject(0.020)
    assert codel.overloaded


def test_minimum_tracks_the_smallest_delay_of_the_interval() -> None:
    """min_delay is the smallest delay seen since the interval opened."""
    clock = MockClock()
    codel = CoDel(clock=clock)
    for delay in (0.009, 0.004, 0.007):
        codel.should_reject(delay)
    assert codel.min_delay == 0.004


@pytest.mark.parametrize(
    ("min_delay", "load"), [(0.0, 0), (0.0025, 25), (0.005, 50), (0.0099, 99), (0.010, 100), (0.5, 100)]
)
def test_load_is_folly_getload(min_delay: float, load: int) -> None:
    """load = min(100, 100 * min_delay / (2 * target)), truncated like folly's integer division."""
    codel = CoDel(clock=MockClock())
    codel.should_reject(min_delay)
    assert codel.load == load


def test_now_argument_replaces_the_clock() -> None:
    """A caller-supplied now decides the interval boundary instead of the clock."""
    clock = MockClock()
    codel = CoDel(clock=clock)
    codel.should_reject(0.020, now=0.0)
    codel.should_reject(0.020, now=0.001)  # closes the first interval although the clock is at 0
    assert codel.overloaded


def test_custom_target_and_interval() -> None:
    """With target 20 ms, a 30 ms minimum is overload and only delays over 40 ms are shed."""
    clock = MockClock()
    codel = CoDel(target=0.020, interval=0.5, clock=clock)
    codel.should_reject(0.030)
    clock.jump(0.001)
    codel.should_reject(0.030)
    assert codel.overloaded
    assert not codel.should_reject(0.040)
    assert codel.should_reject(0.041)


def test_statistics_snapshot() -> None:
    """statistics() reports settings, state and counters, and is frozen."""
    clock = MockClock()
    codel = _overloaded_codel(clock)
    codel.should_reject(0.050)
    codel.should_reject(0.006)
    stats = codel.statistics()
    assert stats.target == T
    assert stats.interval == 0.1
    assert stats.overloaded
    assert stats.min_delay == 0.006
    assert stats.load == 60
    assert (stats.checked, stats.rejected) == (4, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.rejected = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 0}, "target must be > 0 and finite"),
        ({"target": -1}, "target must be > 0 and finite"),
        ({"target": math.nan}, "target must be > 0 and finite"),
        ({"target": math.inf}, "target must be > 0 and finite"),
        ({"interval": 0}, "interval must be > 0 and finite"),
        ({"interval": math.nan}, "interval must be > 0 and finite"),
        ({"interval": math.inf}, "interval must be > 0 and finite"),
        ({"target": 0.1, "interval": 0.1}, "interval must be > target"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    """Invalid settings fail at construction with a precise message (folly: interval > target > 0)."""
    with pytest.raises(ValueError, match=message):
        CoDel(clock=MockClock(), **kwargs)


def test_repr() -> None:
    """repr names the settings and the mode."""
    assert repr(CoDel(clock=MockClock())) == "CoDel(target=0.005, interval=0.1, overloaded=False)"


def test_noop_never_rejects() -> None:
    """NoopCoDel admits any delay, is never overloaded, and reports zeros."""
    gate = NoopCoDel()
    assert not gate.should_reject(10.0)
    assert not gate.overloaded
    assert gate.load == 0
    assert gate.statistics().checked == 0
    assert repr(gate) == "NoopCoDel()"


_calls = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=0.3), st.floats(min_value=0.0, max_value=0.05)),
    max_size=200,
)


@given(calls=_calls)
def test_never_rejects_a_wait_within_the_slough_timeout(calls: list[tuple[float, float]]) -> None:
    """Whatever happened before, a delay <= 2 x target is never rejected."""
    clock = MockClock()
    codel = CoDel(clock=clock)
    for step, delay in calls:
        clock.jump(step)
        if codel.should_reject(delay):
            assert delay > SLOUGH
            assert codel.overloaded


@given(calls=_calls)
def test_a_queue_that_drains_is_never_shed(calls: list[tuple[float, float]]) -> None:
    """If every request waits <= target (the queue keeps emptying), nothing is ever rejected."""
    clock = MockClock()
    codel = CoDel(clock=clock)
    for step, delay in calls:
        clock.jump(step)
        assert not codel.should_reject(min(delay, T))
    assert not codel.overloaded


@given(calls=_calls)
def test_overload_follows_the_previous_intervals_minimum(calls: list[tuple[float, float]]) -> None:
    """Whenever the mode changes, it is (minimum delay of the interval that just closed) > target."""
    clock = MockClock()
    codel = CoDel(clock=clock)
    for step, delay in calls:
        clock.jump(step)
        closing_min = codel.min_delay
        was = codel.overloaded
        codel.should_reject(delay)
        if codel.overloaded != was:
            assert codel.overloaded == (closing_min > T)
