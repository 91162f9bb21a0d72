"""Tests for seawall.limit.WarmUp, pinned to Sentinel's WarmUpController."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.limit import WarmUp
from seawall.testing import MockClock


def _saturate(warm: WarmUp, attempts: int = 50) -> int:
    """Ask for many single units at once; return how many were admitted."""
    return sum(warm.try_acquire() for _ in range(attempts))


def test_sentinel_published_vector() -> None:
    """count=10, warm-up 10 s, cold factor 3 -> warning 50, max 100, slope 0.004, cold rate 10/3."""
    stats = WarmUp(count=10, warmup_period=10, cold_factor=3, clock=MockClock()).statistics()
    assert stats.warning_tokens == 50
    assert stats.max_tokens == 100
    assert stats.slope == pytest.approx(0.004, rel=1e-12)
    assert stats.stored_tokens == 100
    assert stats.allowed_qps == pytest.approx(10 / 3, rel=1e-12)


def test_default_cold_factor_is_three() -> None:
    """Sentinel's default cold factor 3 applies when none is given."""
    assert WarmUp(count=10, warmup_period=10, clock=MockClock()).statistics().cold_factor == 3


@pytest.mark.parametrize(
    ("count", "period", "cold_factor", "warning", "max_tokens"),
    [
        (10, 10, 3, 50, 100),
        (7, 3, 3, 10, 20),  # (int)21 / 2 = 10; 10 + (int)(42 / 4) = 10 + 10
        (10, 10, 4, 33, 73),  # (int)100 / 3 = 33; 33 + (int)(200 / 5) = 33 + 40
        (2.5, 3, 3, 3, 6),  # (int)7.5 = 7, 7 / 2 = 3; 3 + (int)(15 / 4) = 3 + 3
        (100, 5, 2, 500, 833),  # 500 / 1 = 500; 500 + (int)(1000 / 3) = 500 + 333
    ],
)
def test_token_formulas_truncate_like_java(
    count: float, period: float, cold_factor: int, warning: int, max_tokens: int
) -> None:
    """warning and max tokens use Java's (int) casts and integer division."""
    stats = WarmUp(count=count, warmup_period=period, cold_factor=cold_factor, clock=MockClock()).statistics()
    assert (stats.warning_tokens, stats.max_tokens) == (warning, max_tokens)
    assert stats.slope == pytest.approx((cold_factor - 1.0) / count / (max_tokens - warning))


def test_cold_start_admits_the_cold_rate() -> None:
    """A cold limiter admits floor(10/3) = 3 units in its first second."""
    warm = WarmUp(count=10, warmup_period=10, clock=MockClock())
    assert _saturate(warm) == 3


def test_tokens_drop_by_previous_second_passes() -> None:
    """Above the warning line with busy traffic, syncToken only subtracts last second's passes."""
    clock = MockClock()
    warm = WarmUp(count=10, warmup_period=10, clock=clock)
    _saturate(warm)
    clock.jump(1)
    stats = warm.statistics()
    assert stats.stored_tokens == 97  # 100, no refill since 3 passes is not < (int)10 / 3, minus 3
    assert stats.allowed_qps == pytest.approx(1 / (47 * 0.004 + 0.1))


def test_saturating_demand_warms_up_to_count() -> None:
    """Under constant full demand the per-second admissions climb from 3 to 10 and stay there."""
    clock = MockClock()
    warm = WarmUp(count=10, warmup_period=10, clock=clock)
    admitted = []
    for _ in range(20):
        admitted.append(_saturate(warm))
        clock.jump(1)
    assert admitted[0] == 3
    assert admitted == sorted(admitted)
    assert admitted[-5:] == [10] * 5
    # Sentinel's trajectory (tokens 100, 97, 94, ... reach the warning line in the 13th second).
    assert admitted[:13] == [3, 3, 3, 3, 3, 4, 4, 4, 5, 5, 6, 7, 10]


def test_warm_state_is_stable_below_warning_line() -> None:
    """Once warm, full-rate traffic keeps the stored tokens below the warning line."""
    clock = MockClock()
    warm = WarmUp(count=10, warmup_period=10, clock=clock)
    for _ in range(20):
        _saturate(warm)
        clock.jump(1)
    stats = warm.statistics()
    assert stats.stored_tokens < stats.warning_tokens
    assert stats.allowed_qps == 10


def test_cools_down_after_idle() -> None:
    """A warm limiter left idle refills to max tokens and is cold again."""
    clock = MockClock()
    warm = WarmUp(count=10, warmup_period=10, clock=clock)
    for _ in range(20):
        _saturate(warm)
        clock.jump(1)
    clock.jump(60)
    assert warm.statistics().stored_tokens == 100
    assert _saturate(warm) == 3


def test_light_traffic_above_warning_refills() -> None:
    """Above the warning line, a previous second with fewer than (int)count / cold_factor passes refills."""
    clock = MockClock()
    warm = WarmUp(count=10, warmup_period=10, clock=clock)
    for _ in range(3):
        _saturate(warm)
        clock.jump(1)
    assert warm.statistics().stored_tokens == 91
    assert warm.try_acquire(2)  # 2 < 3: light
    clock.jump(1)
    assert warm.statistics().stored_tokens == 98  # min(91 + 10, 100) - 2


def test_skipped_second_counts_no_previous_passes() -> None:
    """If the previous second saw no traffic, nothing is subtracted for it."""
    clock = MockClock()
    warm = WarmUp(count=10, warmup_period=10, clock=clock)
    _saturate(warm)
    clock.jump(2)
    assert warm.statistics().stored_tokens == 100


def test_acquire_n_counts_n_passes() -> None:
    """A request for n units uses n of the second's allowance."""
    clock = MockClock()
    warm = WarmUp(count=10, warmup_period=10, clock=clock)
    assert warm.try_acquire(3)
    assert not warm.try_acquire()
    assert warm.statistics().pass_qps == 3


def test_retry_after_points_to_next_second() -> None:
    """When refused, retry_after is the time until the pass counter starts over."""
    clock = MockClock()
    warm = WarmUp(count=10, warmup_period=10, clock=clock)
    assert warm.retry_after() == 0.0
    _saturate(warm)
    clock.jump(0.25)
    assert warm.retry_after() == pytest.approx(0.75)
    assert warm.retry_after(11) == math.inf


def test_statistics_counts_and_is_frozen() -> None:
    """statistics() counts admitted and rejected calls and cannot be mutated."""
    warm = WarmUp(count=10, warmup_period=10, clock=MockClock())
    _saturate(warm, attempts=5)
    stats = warm.statistics()
    assert (stats.admitted, stats.rejected, stats.pass_qps) == (3, 2, 3)
    assert (stats.count, stats.warmup_period) == (10.0, 10.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.stored_tokens = 0  # type: ignore[misc]


def test_zero_warning_line_starts_warm() -> None:
    """With warning tokens 0, Sentinel never stores tokens, so the full count applies at once."""
    warm = WarmUp(count=3.5, warmup_period=1, cold_factor=5, clock=MockClock())
    stats = warm.statistics()
    assert (stats.warning_tokens, stats.max_tokens, stats.stored_tokens) == (0, 1, 0)
    assert stats.allowed_qps == pytest.approx(3.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0, "warmup_period": 10}, "count must be > 0"),
        ({"count": math.inf, "warmup_period": 10}, "count must be > 0"),
        ({"count": 10, "warmup_period": 0}, "warmup_period must be > 0"),
        ({"count": 10, "warmup_period": 10, "cold_factor": 1}, "cold_factor must be > 1"),
        ({"count": 1, "warmup_period": 1}, r"max_tokens \(0\) must exceed warning_tokens \(0\)"),
    ],
)
def test_validates_configuration(kwargs: dict[str, float], message: str) -> None:
    """Bad configuration, including one where Sentinel would divide by zero, fails at construction."""
    with pytest.raises(ValueError, match=message):
        WarmUp(clock=MockClock(), **kwargs)  # type: ignore[arg-type]


def test_n_must_be_positive() -> None:
    """try_acquire rejects n < 1."""
    with pytest.raises(ValueError, match="n must be >= 1"):
        WarmUp(count=10, warmup_period=10, clock=MockClock()).try_acquire(0)


def test_repr_shows_configuration() -> None:
    """repr() names count, warm-up period and cold factor."""
    warm = WarmUp(count=10, warmup_period=10, clock=MockClock())
    assert repr(warm) == "WarmUp(count=10.0, warmup_period=10.0, cold_factor=3)"
    assert warm.count == 10.0


@given(
    steps=st.lists(st.tuples(st.floats(0, 1.5), st.integers(1, 5)), max_size=100),
    count=st.floats(1, 40),
    period=st.floats(1, 20),
    cold_factor=st.integers(2, 6),
)
def test_never_more_than_count_per_second_and_tokens_in_range(
    steps: list[tuple[float, int]], count: float, period: float, cold_factor: int
) -> None:
    """Each clock second admits at most count units; stored tokens stay within [0, max_tokens]."""
    try:
        clock = MockClock()
        warm = WarmUp(count=count, warmup_period=period, cold_factor=cold_factor, clock=clock)
    except ValueError:
        return  # too small a product for this cold factor; covered above
    per_second: dict[int, int] = {}
    for dt, n in steps:
        clock.jump(dt)
        if warm.try_acquire(n):
            second = math.floor(clock.now())
            per_second[second] = per_second.get(second, 0) + n
        stats = warm.statistics()
        assert 0 <= stats.stored_tokens <= stats.max_tokens
        assert stats.allowed_qps <= math.nextafter(count, math.inf)
    assert all(total <= count + 1e-9 for total in per_second.values())
