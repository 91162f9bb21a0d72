"""Tests for seawall.limit.TokenBucket."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.limit import TokenBucket
from seawall.testing import MockClock

# (time step in seconds, units requested)
_steps = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=2.0), st.integers(min_value=1, max_value=6)),
    max_size=80,
)


def test_starts_full() -> None:
    """A new bucket admits a whole burst at once and then refuses."""
    bucket = TokenBucket(rate=1, burst=5, clock=MockClock())
    assert [bucket.try_acquire() for _ in range(6)] == [True] * 5 + [False]


def test_refills_at_rate() -> None:
    """After draining, one token per 1/rate seconds comes back."""
    clock = MockClock()
    bucket = TokenBucket(rate=10, burst=1, clock=clock)
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    clock.jump(0.05)
    assert not bucket.try_acquire()
    clock.jump(0.05)
    assert bucket.try_acquire()


def test_never_refills_above_burst() -> None:
    """A long idle period fills the bucket to burst, not beyond."""
    clock = MockClock()
    bucket = TokenBucket(rate=100, burst=3, clock=clock)
    clock.jump(3600)
    assert bucket.statistics().tokens == 3
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_acquire_n_is_all_or_nothing() -> None:
    """A request for more tokens than available takes none of them."""
    bucket = TokenBucket(rate=1, burst=5, clock=MockClock())
    assert bucket.try_acquire(3)
    assert not bucket.try_acquire(3)
    assert bucket.statistics().tokens == 2
    assert bucket.try_acquire(2)


def test_n_must_be_positive() -> None:
    """try_acquire rejects n < 1 with a precise error rather than minting tokens."""
    bucket = TokenBucket(rate=1, burst=5, clock=MockClock())
    with pytest.raises(ValueError, match="n must be >= 1"):
        bucket.try_acquire(0)


def test_retry_after_zero_when_available() -> None:
    """retry_after is 0.0 while enough tokens are present."""
    bucket = TokenBucket(rate=1, burst=2, clock=MockClock())
    assert bucket.retry_after() == 0.0
    assert bucket.retry_after(2) == 0.0


def test_retry_after_is_time_to_refill() -> None:
    """retry_after is the time until the missing tokens have been added."""
    clock = MockClock()
    bucket = TokenBucket(rate=4, burst=2, clock=clock)
    assert bucket.try_acquire(2)
    assert bucket.retry_after() == pytest.approx(0.25)
    assert bucket.retry_after(2) == pytest.approx(0.5)
    clock.jump(bucket.retry_after(2))
    assert bucket.try_acquire(2)


def test_retry_after_infinite_beyond_burst() -> None:
    """Asking for more than the capacity can never succeed."""
    bucket = TokenBucket(rate=1, burst=2, clock=MockClock())
    assert bucket.retry_after(3) == math.inf
    assert not bucket.try_acquire(3)


def test_statistics_counts_calls() -> None:
    """statistics() counts admitted and rejected calls and is frozen."""
    bucket = TokenBucket(rate=1, burst=1, clock=MockClock())
    bucket.try_acquire()
    bucket.try_acquire()
    stats = bucket.statistics()
    assert (stats.admitted, stats.rejected, stats.tokens, stats.rate, stats.burst) == (1, 1, 0.0, 1.0, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.admitted = 5  # type: ignore[misc]


def test_statistics_does_not_change_state() -> None:
    """Reading statistics() reports refilled tokens without consuming or storing anything."""
    clock = MockClock()
    bucket = TokenBucket(rate=2, burst=4, clock=clock)
    assert bucket.try_acquire(4)
    clock.jump(1)
    assert bucket.statistics().tokens == pytest.approx(2)
    assert bucket.statistics().tokens == pytest.approx(2)
    assert bucket.try_acquire(2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0, "burst": 1}, "rate must be > 0"),
        ({"rate": -1, "burst": 1}, "rate must be > 0"),
        ({"rate": math.nan, "burst": 1}, "rate must be > 0"),
        ({"rate": math.inf, "burst": 1}, "rate must be > 0"),
        ({"rate": 1, "burst": 0}, "burst must be >= 1"),
    ],
)
def test_validates_configuration(kwargs: dict[str, float], message: str) -> None:
    """Bad configuration fails at construction with a precise message."""
    with pytest.raises(ValueError, match=message):
        TokenBucket(clock=MockClock(), **kwargs)  # type: ignore[arg-type]


def test_repr_shows_configuration() -> None:
    """repr() names the rate and burst."""
    assert repr(TokenBucket(rate=2.5, burst=3, clock=MockClock())) == "TokenBucket(rate=2.5, burst=3)"
    assert TokenBucket(rate=2.5, burst=3, clock=MockClock()).rate == 2.5


@given(steps=_steps, rate=st.floats(0.1, 50), burst=st.integers(1, 20))
def test_tokens_never_exceed_burst(steps: list[tuple[float, int]], rate: float, burst: int) -> None:
    """Whatever the traffic, the bucket never holds more than burst tokens nor fewer than zero."""
    clock = MockClock()
    bucket = TokenBucket(rate=rate, burst=burst, clock=clock)
    for dt, n in steps:
        clock.jump(dt)
        bucket.try_acquire(n)
        assert 0.0 <= bucket.statistics().tokens <= burst


@given(steps=_steps, rate=st.floats(0.1, 50), burst=st.integers(1, 20))
def test_admits_at_most_burst_plus_rate_times_interval(
    steps: list[tuple[float, int]], rate: float, burst: int
) -> None:
    """Over any interval of length T, at most burst + rate*T units are admitted."""
    clock = MockClock()
    bucket = TokenBucket(rate=rate, burst=burst, clock=clock)
    admitted: list[tuple[float, int]] = []
    for dt, n in steps:
        clock.jump(dt)
        if bucket.try_acquire(n):
            admitted.append((clock.now(), n))
    for i, (start, _) in enumerate(admitted):
        total = 0
        for t, n in admitted[i:]:
            total += n
            assert total <= burst + rate * (t - start) + 1e-6
