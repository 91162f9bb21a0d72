"""Tests for seawall.limit.HotspotLimiter."""

from __future__ import annotations

import dataclasses
import math

import pytest

from seawall.limit import HotspotLimiter
from seawall.testing import MockClock


def test_each_value_has_its_own_bucket() -> None:
    """Exhausting one value leaves the others untouched."""
    hot = HotspotLimiter(rate=2, clock=MockClock())
    assert [hot.try_acquire("a") for _ in range(3)] == [True, True, False]
    assert hot.try_acquire("b")


def test_override_gives_a_value_its_own_rate() -> None:
    """An overridden value is limited at its own rate while the rest keep the default."""
    clock = MockClock()
    hot = HotspotLimiter(rate=100, overrides={"sku-42": 5}, clock=clock)
    assert sum(hot.try_acquire("sku-42") for _ in range(50)) == 5
    assert sum(hot.try_acquire("sku-7") for _ in range(50)) == 50
    clock.jump(0.2)
    assert hot.try_acquire("sku-42")
    assert not hot.try_acquire("sku-42")
    assert hot.rate_for("sku-42") == 5.0
    assert hot.rate_for("other") == 100.0


def test_default_burst_is_one_second_of_rate() -> None:
    """Without burst, each bucket holds ceil(rate) tokens (at least 1)."""
    hot = HotspotLimiter(rate=2.5, overrides={"slow": 0.2}, clock=MockClock())
    assert sum(hot.try_acquire("x") for _ in range(10)) == 3
    assert sum(hot.try_acquire("slow") for _ in range(10)) == 1


def test_explicit_burst_scales_to_overrides() -> None:
    """With burst, an overridden value's capacity covers the same seconds of its own rate."""
    hot = HotspotLimiter(rate=10, burst=20, overrides={"hot": 5, "tiny": 0.01}, clock=MockClock())
    assert sum(hot.try_acquire("x") for _ in range(50)) == 20
    assert sum(hot.try_acquire("hot") for _ in range(50)) == 10
    assert sum(hot.try_acquire("tiny") for _ in range(50)) == 1


def test_lru_evicts_least_recently_used_value() -> None:
    """Beyond max_values the least recently used value is dropped and later starts afresh."""
    hot = HotspotLimiter(rate=1, max_values=2, clock=MockClock())
    assert hot.try_acquire("a")
    assert hot.try_acquire("b")
    assert not hot.try_acquire("a")  # touches "a": "b" is now least recent
    assert hot.try_acquire("c")  # evicts "b"
    stats = hot.statistics()
    assert (stats.values, stats.evicted, stats.max_values) == (2, 1, 2)
    assert not hot.try_acquire("a")  # "a" survived with its empty bucket
    assert hot.try_acquire("b")  # "b" comes back full


def test_retry_after_per_value() -> None:
    """retry_after reports the value's own refill time, 0.0 for untracked values."""
    clock = MockClock()
    hot = HotspotLimiter(rate=4, burst=1, clock=clock)
    hot.try_acquire("a")
    assert hot.retry_after("a") == pytest.approx(0.25)
    assert hot.retry_after("never-seen") == 0.0
    assert hot.retry_after("never-seen", 2) == math.inf
    assert hot.statistics().values == 1  # asking does not track the value


def test_statistics_counts_and_is_frozen() -> None:
    """statistics() counts admitted and rejected calls across values, frozen."""
    hot = HotspotLimiter(rate=1, clock=MockClock())
    hot.try_acquire("a")
    hot.try_acquire("a")
    hot.try_acquire("b")
    stats = hot.statistics()
    assert (stats.admitted, stats.rejected, stats.values, stats.evicted) == (2, 1, 2, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.values = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0}, "rate must be > 0"),
        ({"rate": 1, "burst": 0}, "burst must be >= 1"),
        ({"rate": 1, "max_values": 0}, "max_values must be >= 1"),
        ({"rate": 1, "overrides": {"x": 0}}, r"overrides\['x'\] must be > 0"),
        ({"rate": 1, "overrides": {"x": math.inf}}, r"overrides\['x'\] must be > 0"),
    ],
)
def test_validates_configuration(kwargs: dict[str, object], message: str) -> None:
    """Bad configuration fails at construction with a precise message."""
    with pytest.raises(ValueError, match=message):
        HotspotLimiter(clock=MockClock(), **kwargs)  # type: ignore[arg-type]


def test_repr_shows_configuration() -> None:
    """repr() names rate, burst, the number of overrides and max_values."""
    hot = HotspotLimiter(rate=10, overrides={"a": 1}, clock=MockClock())
    assert repr(hot) == "HotspotLimiter(rate=10.0, burst=10, overrides=1, max_values=10000)"
