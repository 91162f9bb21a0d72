"""Tests for seawall.retry.TimeoutRatio."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.retry import TimeoutRatio
from seawall.testing import MockClock


def _window(**kwargs: float) -> tuple[TimeoutRatio, MockClock]:
    clock = MockClock()
    return TimeoutRatio(clock=clock, **kwargs), clock  # type: ignore[arg-type]


def _record(window: TimeoutRatio, calls: int, timeouts: int) -> None:
    for i in range(calls):
        window.record(timed_out=i < timeouts)


def test_empty_window() -> None:
    """With no calls the ratio is 0 and retries are not stopped."""
    window, _ = _window()
    assert window.ratio() == 0.0
    assert not window.exceeded()


def test_defaults() -> None:
    """Defaults: 20% over 10 s in 10 slices, at least 10 calls."""
    stats = TimeoutRatio().statistics()
    assert (stats.threshold, stats.window, stats.min_calls) == (0.2, 10.0, 10)


def test_ratio_counts_timeouts_over_calls() -> None:
    """ratio() is timeouts / calls in the window."""
    window, _ = _window()
    _record(window, calls=8, timeouts=2)
    assert window.ratio() == 0.25


def test_needs_min_calls() -> None:
    """Nine timeouts out of nine calls say nothing; the tenth call makes it count."""
    window, _ = _window()
    _record(window, calls=9, timeouts=9)
    assert not window.exceeded()
    window.record(timed_out=False)
    assert window.exceeded()


def test_exactly_at_threshold_is_not_exceeded() -> None:
    """The rule is "above 20%": 2 of 10 leaves retries on, 3 of 10 stops them."""
    window, _ = _window()
    _record(window, calls=10, timeouts=2)
    assert not window.exceeded()
    window.record(timed_out=True)  # 3 of 11
    assert window.exceeded()


def test_exactly_at_threshold_despite_float_rounding() -> None:
    """63 of 90 at a 0.7 threshold is exactly at it (0.7 * 90 rounds below 63 in floats)."""
    window, _ = _window(threshold=0.7)
    _record(window, calls=90, timeouts=63)
    assert not window.exceeded()


def test_threshold_one_never_stops_retries() -> None:
    """A threshold of 1 switches the rule off: even all timeouts do not exceed it."""
    window, _ = _window(threshold=1.0)
    _record(window, calls=50, timeouts=50)
    assert not window.exceeded()


def test_threshold_zero_stops_on_any_timeout() -> None:
    """A threshold of 0 stops retries on the first timeout once min_calls are in."""
    window, _ = _window(threshold=0.0, min_calls=1)
    window.record(timed_out=False)
    assert not window.exceeded()
    window.record(timed_out=True)
    assert window.exceeded()


def test_calls_expire_after_the_window() -> None:
    """Calls at t=0 count until 10 s have passed, then the window is empty again."""
    window, clock = _window()
    _record(window, calls=10, timeouts=10)
    clock.jump(9.99)
    assert window.exceeded()
    clock.jump(0.01)
    assert not window.exceeded()
    assert window.statistics().calls == 0


def test_window_slides_slice_by_slice() -> None:
    """Old timeouts leave the window one slice at a time while newer successes stay."""
    window, clock = _window()
    _record(window, calls=5, timeouts=5)
    clock.jump(5.0)
    _record(window, calls=5, timeouts=0)
    assert window.exceeded()  # 5 of 10
    clock.jump(5.0)  # t=10: the timeouts have left
    stats = window.statistics()
    assert (stats.calls, stats.timeouts, stats.exceeded) == (5, 0, False)


def test_statistics() -> None:
    """statistics() reports the window's counts, ratio, verdict and config, frozen."""
    window, _ = _window(threshold=0.5, min_calls=2, window=4.0)
    _record(window, calls=4, timeouts=3)
    stats = window.statistics()
    assert (stats.calls, stats.timeouts, stats.ratio, stats.exceeded) == (4, 3, 0.75, True)
    assert (stats.threshold, stats.min_calls, stats.window) == (0.5, 2, 4.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.calls = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": -0.1}, "threshold must be in"),
        ({"threshold": 1.1}, "threshold must be in"),
        ({"threshold": math.nan}, "threshold must be in"),
        ({"window": 0}, "window must be > 0 and finite"),
        ({"window": math.inf}, "window must be > 0 and finite"),
        ({"window": math.nan}, "window must be > 0 and finite"),
        ({"buckets": 0}, "buckets must be >= 1"),
        ({"min_calls": 0}, "min_calls must be >= 1"),
    ],
)
def test_rejects_invalid_config(kwargs: dict[str, float], message: str) -> None:
    """Invalid configuration fails at construction with a precise message."""
    with pytest.raises(ValueError, match=message):
        TimeoutRatio(**kwargs)  # type: ignore[arg-type]


@given(
    events=st.lists(st.tuples(st.booleans(), st.floats(min_value=0.0, max_value=4.0)), max_size=150),
    buckets=st.sampled_from([1, 4, 10]),
)
def test_window_sums_equal_the_events_within_it(events: list[tuple[bool, float]], buckets: int) -> None:
    """Model check: calls and timeouts are those recorded in the last ``buckets`` slices."""
    clock = MockClock()
    window = TimeoutRatio(window=10.0, buckets=buckets, min_calls=3, clock=clock)
    recorded: list[tuple[int, bool]] = []
    for timed_out, step in events:
        clock.jump(step)
        head = math.floor(clock.now() / (10.0 / buckets))
        window.record(timed_out=timed_out)
        recorded.append((head, timed_out))
        live = [t for ordinal, t in recorded if ordinal > head - buckets]
        stats = window.statistics()
        assert (stats.calls, stats.timeouts) == (len(live), sum(live))
        assert stats.exceeded == (len(live) >= 3 and sum(live) / len(live) > 0.2)
