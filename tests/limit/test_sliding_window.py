"""Tests for seawall.limit.SlidingWindow."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.limit import SlidingWindow
from seawall.testing import MockClock

_steps = st.lists(st.tuples(st.floats(0, 0.7), st.integers(1, 4)), max_size=80)


def test_admits_up_to_limit_then_refuses() -> None:
    """Within one window exactly limit units are admitted."""
    window = SlidingWindow(limit=3, window=1, clock=MockClock())
    assert [window.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert window.count() == 3


def test_n_is_all_or_nothing() -> None:
    """A request that would overflow the window counts nothing."""
    window = SlidingWindow(limit=5, window=1, clock=MockClock())
    assert window.try_acquire(4)
    assert not window.try_acquire(2)
    assert window.count() == 4
    assert window.try_acquire(1)


def test_old_buckets_slide_out() -> None:
    """Counts leave the window bucket by bucket as time passes."""
    clock = MockClock()
    window = SlidingWindow(limit=10, window=1, buckets=10, clock=clock)
    window.try_acquire(4)  # bucket 0
    clock.jump(0.55)
    window.try_acquire(6)  # bucket 5
    assert not window.try_acquire()
    clock.jump(0.5)  # now 1.05: bucket 0 has left, bucket 5 has not
    assert window.count() == 6
    assert window.try_acquire(4)
    clock.jump(0.5)  # now 1.55: bucket 5 has left
    assert window.count() == 4


def test_long_idle_resets_everything() -> None:
    """After more than a window of silence, the whole limit is available again."""
    clock = MockClock()
    window = SlidingWindow(limit=2, window=1, clock=clock)
    window.try_acquire(2)
    clock.jump(1000)
    assert window.count() == 0
    assert window.try_acquire(2)


def test_single_bucket_is_a_fixed_window() -> None:
    """With buckets=1 the counter resets at each window boundary."""
    clock = MockClock()
    window = SlidingWindow(limit=2, window=1, buckets=1, clock=clock)
    window.try_acquire(2)
    clock.jump(0.99)
    assert not window.try_acquire()
    clock.jump(0.01)
    assert window.try_acquire(2)


def test_retry_after_zero_when_room() -> None:
    """retry_after is 0.0 while the window has room."""
    window = SlidingWindow(limit=2, window=1, clock=MockClock())
    window.try_acquire()
    assert window.retry_after() == 0.0


def test_retry_after_waits_for_enough_buckets_to_expire() -> None:
    """retry_after is the time until the oldest buckets holding the excess leave the window."""
    clock = MockClock()
    window = SlidingWindow(limit=4, window=1, buckets=4, clock=clock)
    window.try_acquire(1)  # bucket 0, expires at 1.0
    clock.jump(0.3)
    window.try_acquire(3)  # bucket 1, expires at 1.25
    clock.jump(0.3)
    assert window.retry_after() == pytest.approx(0.4)
    assert window.retry_after(2) == pytest.approx(0.65)
    clock.jump(window.retry_after())
    assert window.try_acquire()


def test_retry_after_infinite_beyond_limit() -> None:
    """Asking for more than the limit can never succeed."""
    window = SlidingWindow(limit=2, window=1, clock=MockClock())
    assert window.retry_after(3) == math.inf


def test_statistics_snapshot() -> None:
    """statistics() reports counters, the current count and the configuration, frozen."""
    window = SlidingWindow(limit=1, window=2, buckets=4, clock=MockClock())
    window.try_acquire()
    window.try_acquire()
    stats = window.statistics()
    assert (stats.admitted, stats.rejected, stats.count) == (1, 1, 1)
    assert (stats.limit, stats.window, stats.buckets) == (1, 2.0, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.count = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0, "window": 1}, "limit must be >= 1"),
        ({"limit": 1, "window": 0}, "window must be > 0"),
        ({"limit": 1, "window": math.inf}, "window must be > 0"),
        ({"limit": 1, "window": 1, "buckets": 0}, "buckets must be >= 1"),
    ],
)
def test_validates_configuration(kwargs: dict[str, float], message: str) -> None:
    """Bad configuration fails at construction with a precise message."""
    with pytest.raises(ValueError, match=message):
        SlidingWindow(clock=MockClock(), **kwargs)  # type: ignore[arg-type]


def test_n_must_be_positive() -> None:
    """try_acquire rejects n < 1."""
    with pytest.raises(ValueError, match="n must be >= 1"):
        SlidingWindow(limit=1, window=1, clock=MockClock()).try_acquire(0)


def test_repr_shows_configuration() -> None:
    """repr() names limit, window and buckets."""
    window = SlidingWindow(limit=5, window=1, buckets=2, clock=MockClock())
    assert repr(window) == "SlidingWindow(limit=5, window=1.0, buckets=2)"
    assert (window.limit, window.window) == (5, 1.0)


@given(steps=_steps, limit=st.integers(1, 12), buckets=st.integers(1, 8))
def test_window_sum_equals_events_in_window(steps: list[tuple[float, int]], limit: int, buckets: int) -> None:
    """count() always equals the admitted units whose bucket lies within the last `buckets` buckets."""
    clock = MockClock()
    window = SlidingWindow(limit=limit, window=1.0, buckets=buckets, clock=clock)
    width = 1.0 / buckets
    events: list[tuple[int, int]] = []
    for dt, n in steps:
        clock.jump(dt)
        if window.try_acquire(n):
            events.append((math.floor(clock.now() / width), n))
        head = math.floor(clock.now() / width)
        assert window.count() == sum(n for b, n in events if b > head - buckets)


@given(steps=_steps, limit=st.integers(1, 12), buckets=st.integers(1, 8))
def test_never_more_than_limit_in_any_window(
    steps: list[tuple[float, int]], limit: int, buckets: int
) -> None:
    """Any `buckets` consecutive buckets (one window) hold at most `limit` admitted units."""
    clock = MockClock()
    window = SlidingWindow(limit=limit, window=1.0, buckets=buckets, clock=clock)
    width = 1.0 / buckets
    per_bucket: Counter[int] = Counter()
    for dt, n in steps:
        clock.jump(dt)
        if window.try_acquire(n):
            per_bucket[math.floor(clock.now() / width)] += n
    for start in per_bucket:
        assert sum(per_bucket[b] for b in range(start, start + buckets)) <= limit
