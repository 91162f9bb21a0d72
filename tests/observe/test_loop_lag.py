"""Tests for seawall.observe.LoopLagSampler: how late the loop wakes a timer."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.observe import LOOP_LAG_BUCKETS, LoopLagSampler
from seawall.testing import MockClock


async def test_lag_is_how_late_the_sampler_wakes(mock_clock: MockClock) -> None:
    """Woken 30 ms after its 100 ms sleep was due, the sampler records 30 ms of lag."""
    sampler = LoopLagSampler(interval=0.1, clock=mock_clock)
    tick = asyncio.ensure_future(sampler.tick())
    await asyncio.sleep(0)
    mock_clock.jump(0.13)
    assert await tick == pytest.approx(0.03)
    stats = sampler.statistics()
    assert stats.count == 1
    assert stats.sum == pytest.approx(0.03)
    assert stats.last == pytest.approx(0.03)
    assert stats.counts[LOOP_LAG_BUCKETS.index(0.05)] == 1


async def test_on_time_wake_has_no_lag(autojump_clock: MockClock) -> None:
    """With nothing blocking, every sample is 0 and lands in the first bucket."""
    sampler = LoopLagSampler(interval=0.25, clock=autojump_clock)
    for _ in range(5):
        assert await sampler.tick() == 0.0
    stats = sampler.statistics()
    assert (stats.count, stats.sum, stats.counts[0]) == (5, 0.0, 5)


async def test_sampler_runs_until_stopped(autojump_clock: MockClock) -> None:
    """start() samples every interval on the running loop; stop() ends the task."""
    sampler = LoopLagSampler(interval=0.25, clock=autojump_clock)
    sampler.start()
    sampler.start()  # idempotent: still one task
    assert sampler.running
    assert sampler.loop is asyncio.get_running_loop()
    await autojump_clock.sleep(1.1)
    await sampler.stop()
    assert not sampler.running
    assert sampler.statistics().count == 4
    await sampler.stop()  # no-op


async def test_blocked_loop_shows_as_lag(mock_clock: MockClock) -> None:
    """Time that passes while the loop is busy (here: a jump past the due time) is lag."""
    sampler = LoopLagSampler(interval=0.5, clock=mock_clock)
    sampler.start()
    await asyncio.sleep(0)
    mock_clock.jump(0.5)  # on time
    await asyncio.sleep(0)
    mock_clock.jump(0.7)  # 200 ms late
    await asyncio.sleep(0)
    await sampler.stop()
    stats = sampler.statistics()
    assert stats.count == 2
    assert stats.sum == pytest.approx(0.2)
    assert stats.counts[LOOP_LAG_BUCKETS.index(0.25)] == 1


def test_observe_clamps_negative_lag_to_zero() -> None:
    """A clock that wakes early never records negative lag."""
    sampler = LoopLagSampler()
    sampler.observe(-0.5)
    stats = sampler.statistics()
    assert (stats.sum, stats.counts[0], stats.last) == (0.0, 1, 0.0)


@pytest.mark.parametrize("interval", [0, -1, math.nan, math.inf])
def test_sampler_interval_must_be_positive_and_finite(interval: float) -> None:
    """interval is validated at construction."""
    with pytest.raises(ValueError, match="interval must be > 0 and finite"):
        LoopLagSampler(interval=interval)


@given(st.lists(st.floats(0, 10, allow_nan=False), max_size=50))
def test_lag_histogram_is_consistent(lags: list[float]) -> None:
    """Count and sum match the observations; each cumulative bucket holds the lags <= its bound."""
    sampler = LoopLagSampler()
    for lag in lags:
        sampler.observe(lag)
    stats = sampler.statistics()
    assert stats.count == len(lags)
    assert stats.sum == pytest.approx(math.fsum(lags))
    cumulative = 0
    for bound, n in zip(LOOP_LAG_BUCKETS, stats.counts, strict=False):
        cumulative += n
        assert cumulative == sum(1 for x in lags if x <= bound)
