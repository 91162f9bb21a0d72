"""Tests for seawall.limit.KeyedLimiter."""

from __future__ import annotations

import dataclasses
import math

import pytest

from seawall.limit import KeyedLimiter, SlidingWindow, TokenBucket
from seawall.testing import MockClock


def _buckets(clock: MockClock, max_keys: int = 10_000) -> KeyedLimiter[TokenBucket]:
    return KeyedLimiter(lambda: TokenBucket(rate=1, burst=2, clock=clock), max_keys=max_keys)


def test_keys_are_limited_independently() -> None:
    """One client exhausting its limiter does not affect another."""
    per_client = _buckets(MockClock())
    assert [per_client.try_acquire("10.0.0.1") for _ in range(3)] == [True, True, False]
    assert per_client.try_acquire("10.0.0.2")


def test_get_returns_the_same_limiter_for_a_key() -> None:
    """get() creates a key's limiter once and returns it afterwards."""
    per_client = _buckets(MockClock())
    assert per_client.get("a") is per_client.get("a")
    assert per_client.get("a") is not per_client.get("b")
    assert len(per_client) == 2
    assert "a" in per_client
    assert "z" not in per_client


def test_try_acquire_passes_n_through() -> None:
    """try_acquire(key, n) asks the key's limiter for n units."""
    per_client = _buckets(MockClock())
    assert per_client.try_acquire("a", 2)
    assert not per_client.try_acquire("a", 1)


def test_works_with_any_rate_limiter() -> None:
    """The factory may build any RateLimiter, e.g. a sliding window."""
    clock = MockClock()
    per_client = KeyedLimiter(lambda: SlidingWindow(limit=1, window=1, clock=clock))
    assert per_client.try_acquire("a")
    assert not per_client.try_acquire("a")
    assert per_client.retry_after("a") == pytest.approx(1.0)


def test_lru_bound_evicts_least_recently_used() -> None:
    """Beyond max_keys the least recently used key is dropped and later starts afresh."""
    per_client = _buckets(MockClock(), max_keys=2)
    per_client.try_acquire("a", 2)
    per_client.try_acquire("b", 2)
    per_client.get("a")  # "b" is now least recent
    per_client.try_acquire("c")
    assert "b" not in per_client
    assert not per_client.try_acquire("a")
    assert per_client.try_acquire("b", 2)
    assert per_client.statistics().evicted == 2


def test_retry_after_delegates_without_tracking() -> None:
    """retry_after asks the key's limiter; for an unknown key it answers as a fresh one, tracking nothing."""
    per_client = _buckets(MockClock())
    per_client.try_acquire("a", 2)
    assert per_client.retry_after("a") == pytest.approx(1.0)
    assert per_client.retry_after("new") == 0.0
    assert per_client.retry_after("new", 3) == math.inf
    assert "new" not in per_client


def test_statistics_counts_and_is_frozen() -> None:
    """statistics() counts outcomes and keys, frozen."""
    per_client = _buckets(MockClock(), max_keys=5)
    per_client.try_acquire("a", 2)
    per_client.try_acquire("a")
    per_client.try_acquire("b")
    stats = per_client.statistics()
    assert (stats.admitted, stats.rejected, stats.keys, stats.evicted, stats.max_keys) == (2, 1, 2, 0, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.keys = 0  # type: ignore[misc]


def test_validates_max_keys() -> None:
    """max_keys below 1 fails at construction."""
    with pytest.raises(ValueError, match="max_keys must be >= 1"):
        _buckets(MockClock(), max_keys=0)


def test_repr_shows_size() -> None:
    """repr() names the number of keys and the bound."""
    per_client = _buckets(MockClock(), max_keys=3)
    per_client.get("a")
    assert repr(per_client) == "KeyedLimiter(keys=1, max_keys=3)"
