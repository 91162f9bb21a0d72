"""Tests for seawall.limit.NoopLimiter and NoopKeyedLimiter."""

from __future__ import annotations

import pytest

from seawall.limit import (
    ConcurrencyLimit,
    HotspotLimiter,
    KeyedLimiter,
    LeakyBucket,
    NoopKeyedLimiter,
    NoopLimiter,
    RateLimiter,
    SlidingWindow,
    TokenBucket,
    WarmUp,
)


def _public_methods(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_") and name != "statistics"}


def test_always_admits() -> None:
    """Every admission method says yes, however often it is asked."""
    noop = NoopLimiter()
    assert all(noop.try_acquire(1000) for _ in range(100))
    assert noop.reserve(1000) == 0.0
    assert noop.retry_after(1000) == 0.0


async def test_acquire_admits_without_waiting() -> None:
    """acquire() returns True at once."""
    assert await NoopLimiter().acquire(5)


def test_release_count_and_in_flight_are_inert() -> None:
    """release() does nothing; count() and in_flight stay 0."""
    noop = NoopLimiter()
    noop.release()
    noop.try_acquire()
    assert (noop.count(), noop.in_flight) == (0, 0)


def test_statistics_counts_admissions() -> None:
    """statistics() reports every admission and no rejections."""
    noop = NoopLimiter()
    noop.try_acquire()
    noop.reserve()
    stats = noop.statistics()
    assert (stats.admitted, stats.rejected) == (2, 0)


@pytest.mark.parametrize("cls", [TokenBucket, LeakyBucket, SlidingWindow, WarmUp, ConcurrencyLimit])
def test_has_every_method_of_the_local_limiters(cls: type) -> None:
    """NoopLimiter offers every public method of each limiter it stands in for (config properties aside)."""
    config = {"rate", "burst", "max_wait", "limit", "window"}
    missing = _public_methods(cls) - _public_methods(NoopLimiter) - config
    assert not missing


def test_is_a_rate_limiter() -> None:
    """NoopLimiter satisfies the RateLimiter protocol."""
    assert isinstance(NoopLimiter(), RateLimiter)


def test_keyed_twin_always_admits() -> None:
    """NoopKeyedLimiter admits every key and tracks none."""
    keyed = NoopKeyedLimiter()
    assert all(keyed.try_acquire(i, 10) for i in range(100))
    assert keyed.retry_after("a") == 0.0
    assert keyed.get("a") is keyed.get("b")
    assert len(keyed) == 0
    assert "a" not in keyed
    assert keyed.statistics().admitted == 100


@pytest.mark.parametrize("cls", [KeyedLimiter, HotspotLimiter])
def test_keyed_twin_has_the_keyed_methods(cls: type) -> None:
    """NoopKeyedLimiter offers try_acquire, retry_after and statistics like the keyed limiters."""
    shared = _public_methods(cls) & {"try_acquire", "retry_after", "get"}
    assert shared <= _public_methods(NoopKeyedLimiter)


def test_reprs() -> None:
    """The twins have plain reprs."""
    assert repr(NoopLimiter()) == "NoopLimiter()"
    assert repr(NoopKeyedLimiter()) == "NoopKeyedLimiter()"
