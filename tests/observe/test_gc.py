"""Tests for seawall.observe.GcMonitor: collections, collected objects and pause histograms."""

from __future__ import annotations

import gc
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.observe import GC_PAUSE_BUCKETS, GcMonitor, LoopLagSampler
from seawall.testing import MockClock


def _collect(monitor: GcMonitor, clock: MockClock, generation: int, pause: float, collected: int = 0) -> None:
    monitor.callback("start", {"generation": generation, "collected": 0, "uncollectable": 0})
    clock.jump(pause)
    monitor.callback("stop", {"generation": generation, "collected": collected, "uncollectable": 1})


def test_gc_pause_is_the_time_between_start_and_stop() -> None:
    """A 3 ms collection of generation 2 lands in the 5 ms bucket and adds 3 ms to the sum."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock)
    _collect(monitor, clock, 2, 0.003, collected=40)
    g = monitor.statistics().generations[2]
    assert g.collections == 1
    assert g.collected == 40
    assert g.uncollectable == 1
    assert g.pause_sum == pytest.approx(0.003)
    assert g.pause_counts[GC_PAUSE_BUCKETS.index(0.005)] == 1
    assert sum(g.pause_counts) == 1


def test_gc_pause_on_a_bound_counts_in_that_bucket() -> None:
    """Prometheus buckets are ``le``: a pause of exactly 1 ms is in the 1 ms bucket."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock, buckets=(0.001, 0.002))
    _collect(monitor, clock, 0, 0.001)
    assert monitor.statistics().generations[0].pause_counts == (1, 0, 0)


def test_gc_long_pause_goes_to_inf_bucket() -> None:
    """A pause beyond the last bound is counted in the +Inf bucket only."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock, buckets=(0.001,))
    _collect(monitor, clock, 1, 2.0)
    assert monitor.statistics().generations[1].pause_counts == (0, 1)


def test_gc_generations_are_counted_separately() -> None:
    """Collections of generation 0 do not count for generation 1 or 2."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock)
    for _ in range(3):
        _collect(monitor, clock, 0, 0.0001)
    _collect(monitor, clock, 1, 0.0001)
    assert [g.collections for g in monitor.statistics().generations] == [3, 1, 0]


def test_gc_stop_without_start_counts_but_has_no_pause() -> None:
    """A stop whose start was missed (installed mid-collection) counts the collection, no pause."""
    monitor = GcMonitor(clock=MockClock())
    monitor.callback("stop", {"generation": 0, "collected": 5, "uncollectable": 0})
    g = monitor.statistics().generations[0]
    assert (g.collections, g.collected, sum(g.pause_counts)) == (1, 5, 0)


def test_gc_unknown_generation_is_ignored() -> None:
    """A generation outside 0..2 (a future CPython) changes nothing."""
    monitor = GcMonitor(clock=MockClock())
    monitor.callback("start", {"generation": 7})
    monitor.callback("stop", {"generation": 7, "collected": 5})
    assert all(g.collections == 0 for g in monitor.statistics().generations)


def test_gc_monitor_counts_real_collections_only_while_installed() -> None:
    """gc.collect() is seen after install() and not after uninstall()."""
    monitor = GcMonitor()
    with monitor:
        assert monitor.installed
        gc.collect()
        seen = monitor.statistics().generations[2].collections
        assert seen >= 1
    assert not monitor.installed
    gc.collect()
    assert monitor.statistics().generations[2].collections == seen


def test_gc_install_is_idempotent() -> None:
    """Installing twice adds the callback once; uninstalling twice is harmless."""
    monitor = GcMonitor()
    monitor.install()
    monitor.install()
    try:
        assert gc.callbacks.count(monitor.callback) == 1
    finally:
        monitor.uninstall()
        monitor.uninstall()
    assert monitor.callback not in gc.callbacks


@pytest.mark.parametrize(
    ("buckets", "message"),
    [
        ((), "buckets must not be empty"),
        ((0.1, 0.1), "buckets must be strictly increasing"),
        ((0.2, 0.1), "buckets must be strictly increasing"),
        ((0.0, 0.1), "buckets must be finite and > 0"),
        ((0.1, math.inf), "buckets must be finite and > 0"),
        ((math.nan,), "buckets must be finite and > 0"),
    ],
)
def test_bad_buckets_are_rejected(buckets: tuple[float, ...], message: str) -> None:
    """Histogram bounds must be positive, finite and strictly increasing."""
    with pytest.raises(ValueError, match=message):
        GcMonitor(buckets=buckets)
    with pytest.raises(ValueError, match=message):
        LoopLagSampler(buckets=buckets)


@given(st.lists(st.tuples(st.integers(0, 2), st.floats(0, 2, allow_nan=False)), max_size=40))
def test_gc_histogram_counts_every_pause_at_or_under_each_bound(events: list[tuple[int, float]]) -> None:
    """Cumulatively, each bucket holds exactly the pauses <= its bound, and the count is the collections."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock)
    for generation, pause in events:
        _collect(monitor, clock, generation, pause)
    for g in monitor.statistics().generations:
        pauses = [p for gen, p in events if gen == g.generation]
        assert g.collections == len(pauses)
        cumulative = 0
        for bound, n in zip(GC_PAUSE_BUCKETS, g.pause_counts, strict=False):
            cumulative += n
            # MockClock differences are exact up to float addition; compare with a hair of slack
            assert cumulative >= sum(1 for p in pauses if p <= bound - 1e-9)
            assert cumulative <= sum(1 for p in pauses if p <= bound + 1e-9)
        assert sum(g.pause_counts) == len(pauses)
