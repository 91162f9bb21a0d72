"""Tests for seawall.load.Gradient2Limit (Netflix Gradient2Limit, with the drop and drift guards)."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.load import Gradient2Limit, Limit

MS = 0.001


def _warm(limit: Gradient2Limit, rtt: float = 10 * MS) -> None:
    """Ten app-limited samples of ``rtt``: the baseline's warm-up average, the limit untouched."""
    for _ in range(10):
        limit.on_sample(0.0, rtt, 1, dropped=False)


def test_satisfies_limit_protocol() -> None:
    """Gradient2Limit is a Limit."""
    assert isinstance(Gradient2Limit(), Limit)


def test_netflix_defaults() -> None:
    """Initial 20, floor 20, ceiling 200; +0.2 * 4 per saturated sample at the baseline RTT."""
    limit = Gradient2Limit()
    assert limit.limit == 20
    _warm(limit)
    limit.on_sample(0.0, 10 * MS, 20, dropped=False)
    assert limit.statistics().estimate == pytest.approx(20.8)
    for _ in range(1000):
        limit.on_sample(0.0, 10 * MS, 500, dropped=False)
    assert limit.limit == 200
    for _ in range(1000):
        limit.on_sample(0.0, 10 * MS, 500, dropped=True)
    assert limit.limit == 20


def test_baseline_warms_up_as_a_plain_average() -> None:
    """The first 10 samples are averaged (Netflix ExpAvgMeasurement warm-up)."""
    limit = Gradient2Limit()
    for rtt in (10 * MS, 20 * MS):
        limit.on_sample(0.0, rtt, 1, dropped=False)
    assert limit.rtt_noload == pytest.approx(15 * MS)


def test_baseline_is_an_exponential_average_over_the_long_window() -> None:
    """After warm-up each app-limited sample moves the baseline by 2 / (long_window + 1)."""
    limit = Gradient2Limit(long_window=9)
    _warm(limit, 10 * MS)
    limit.on_sample(0.0, 15 * MS, 1, dropped=False)
    assert limit.rtt_noload == pytest.approx(10 * MS * 0.8 + 15 * MS * 0.2)


def test_rises_under_constant_no_load_latency_up_to_max() -> None:
    """Saturated at the baseline RTT (no queue), the limit grows 0.8 per sample and stops at max."""
    limit = Gradient2Limit(initial_limit=20, max_limit=30)
    _warm(limit)
    seen = []
    for _ in range(20):
        limit.on_sample(0.0, 10 * MS, limit.limit, dropped=False)
        seen.append(limit.limit)
    assert seen[:5] == [20, 21, 22, 23, 24]
    assert seen[-1] == 30
    assert max(seen) == 30


def test_tolerance_allows_rtt_up_to_one_and_a_half_times_the_baseline() -> None:
    """An RTT 1.5 x the baseline still counts as no queue: gradient 1, the limit grows."""
    limit = Gradient2Limit(initial_limit=100)
    _warm(limit)
    limit.on_sample(0.0, 15 * MS, 100, dropped=False)
    assert limit.statistics().estimate == pytest.approx(100.8)


def test_steepest_cut_is_half() -> None:
    """RTT 3 x the baseline: gradient clamps at 0.5, so 100 -> 0.8*100 + 0.2*(50 + 4) = 90.8."""
    limit = Gradient2Limit(initial_limit=100)
    _warm(limit)
    limit.on_sample(0.0, 30 * MS, 100, dropped=False)
    assert limit.statistics().estimate == pytest.approx(90.8)


def test_no_change_while_app_limited() -> None:
    """With fewer than half the limit in flight the limit does not move, whatever the RTT."""
    limit = Gradient2Limit(initial_limit=100)
    _warm(limit)
    limit.on_sample(0.0, 100 * MS, 49, dropped=False)
    limit.on_sample(0.0, 1 * MS, 49, dropped=False)
    assert limit.statistics().estimate == 100.0


def test_falls_under_queueing() -> None:
    """Behind an 8-wide bottleneck the limit falls from 100 to where RTT = 1.5 x baseline (about 16)."""
    limit = Gradient2Limit(initial_limit=100, min_limit=1)
    _warm(limit)
    for _ in range(300):
        n = limit.limit
        limit.on_sample(0.0, 10 * MS * max(1.0, n / 8), n, dropped=False)
    assert 14 <= limit.limit <= 18
    assert limit.rtt_noload == pytest.approx(10 * MS)


def test_floor_and_ceiling_hold() -> None:
    """Heavy queueing stops at min_limit; no queue stops at max_limit."""
    limit = Gradient2Limit(initial_limit=10, min_limit=9, max_limit=12)
    _warm(limit)
    for _ in range(100):
        limit.on_sample(0.0, 100 * MS, 10, dropped=False)
    assert limit.limit == 9
    for _ in range(100):
        limit.on_sample(0.0, 10 * MS, 10, dropped=False)
    assert limit.limit == 12


def test_drops_cut_the_limit_even_at_constant_rtt() -> None:
    """Netflix/concurrency-limits#137: every request timing out at the same RTT shrinks the limit."""
    limit = Gradient2Limit(initial_limit=100, min_limit=1)
    _warm(limit, 5.0)
    for _ in range(100):
        limit.on_sample(0.0, 5.0, 1, dropped=True)  # app-limited or not, a drop is a back-off signal
    assert limit.limit == 1


def test_drop_is_the_steepest_gradient_without_allowance() -> None:
    """One drop moves 100 to 0.8 * 100 + 0.2 * 50 = 90: a 0.5 gradient, no queue_size added."""
    limit = Gradient2Limit(initial_limit=100)
    _warm(limit)
    limit.on_sample(0.0, 10 * MS, 1, dropped=True)
    assert limit.statistics().estimate == pytest.approx(90.0)


def test_drops_do_not_enter_the_baseline() -> None:
    """A timed-out request's RTT is not averaged into the baseline."""
    limit = Gradient2Limit()
    _warm(limit)
    limit.on_sample(0.0, 5.0, 1, dropped=True)
    assert limit.rtt_noload == pytest.approx(10 * MS)


def test_queued_samples_do_not_teach_the_baseline() -> None:
    """Samples admitted into a saturated limit (above the floor) leave the baseline where it is."""
    limit = Gradient2Limit(initial_limit=40, min_limit=4)
    _warm(limit)
    for _ in range(2000):
        limit.on_sample(0.0, 40 * MS, limit.limit, dropped=False)
    assert limit.rtt_noload == pytest.approx(10 * MS)
    assert limit.limit == 8  # 2 * queue_size: the lowest a gradient of 0.5 can take it


def test_gradient_alone_stops_at_twice_the_queue_size() -> None:
    """limit * 0.5 + queue_size has its fixed point at 2 * queue_size: heavy queueing stops there."""
    limit = Gradient2Limit(initial_limit=50, min_limit=1, queue_size=2)
    _warm(limit)
    for _ in range(500):
        limit.on_sample(0.0, 1.0, limit.limit, dropped=False)
    assert limit.limit == 4


def test_samples_at_the_floor_teach_the_baseline() -> None:
    """A sample admitted with no more than min_limit in flight is as unloaded as it gets: it counts."""
    limit = Gradient2Limit(initial_limit=4, min_limit=4, long_window=1)
    _warm(limit)
    limit.on_sample(0.0, 40 * MS, 4, dropped=False)
    assert limit.rtt_noload == pytest.approx(40 * MS)


def test_sustained_queueing_does_not_drift_to_max() -> None:
    """Under a never-ending overload the limit stays near the bottleneck instead of drifting up.

    Netflix's baseline averages every sample, so a queue held for ``long_window`` samples becomes
    the new baseline and the limit climbs with it; samples admitted into our own queue are excluded.
    """
    limit = Gradient2Limit(initial_limit=20, min_limit=2)
    _warm(limit)
    for _ in range(20_000):
        n = limit.limit
        limit.on_sample(0.0, 10 * MS * max(1.0, n / 8), n, dropped=False)
    assert limit.limit <= 18


def test_baseline_recovers_fast_when_far_above_the_rtt() -> None:
    """When the baseline is over 2 x the sample, it is also cut by 5% (Netflix's quick recovery)."""
    limit = Gradient2Limit(long_window=9)
    _warm(limit, 10 * MS)
    limit.on_sample(0.0, 4 * MS, 1, dropped=False)
    assert limit.rtt_noload == pytest.approx((10 * MS * 0.8 + 4 * MS * 0.2) * 0.95)


def test_queue_size_may_be_a_function_of_the_limit() -> None:
    """queue_size=sqrt (Envoy's headroom) grows 100 by 0.2 * 10 = 2 per no-queue sample."""
    limit = Gradient2Limit(initial_limit=100, queue_size=math.sqrt)
    _warm(limit)
    limit.on_sample(0.0, 10 * MS, 100, dropped=False)
    assert limit.statistics().estimate == pytest.approx(102.0)


def test_ignores_non_positive_rtt() -> None:
    """A zero or negative RTT is ignored."""
    limit = Gradient2Limit()
    limit.on_sample(0.0, 0.0, 100, dropped=True)
    limit.on_sample(0.0, -1.0, 100, dropped=False)
    assert (limit.limit, limit.rtt_noload) == (20, 0.0)


def test_statistics_snapshot() -> None:
    """statistics() reports the limit, the estimate, the baseline and the last RTT, frozen."""
    limit = Gradient2Limit()
    _warm(limit)
    limit.on_sample(0.0, 12 * MS, 1, dropped=False)
    stats = limit.statistics()
    assert (stats.limit, stats.estimate) == (20, 20.0)
    assert stats.last_rtt == 12 * MS
    assert stats.long_rtt == pytest.approx(limit.rtt_noload)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.limit = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_limit": 0}, "min_limit must be >= 1"),
        ({"max_limit": 10}, "max_limit must be >= min_limit"),
        ({"initial_limit": 10}, r"initial_limit must be in \[min_limit, max_limit\]"),
        ({"smoothing": 0}, r"smoothing must be in \(0, 1\]"),
        ({"smoothing": math.nan}, r"smoothing must be in \(0, 1\]"),
        ({"rtt_tolerance": 0.9}, "rtt_tolerance must be >= 1 and finite"),
        ({"rtt_tolerance": math.inf}, "rtt_tolerance must be >= 1 and finite"),
        ({"rtt_tolerance": math.nan}, "rtt_tolerance must be >= 1 and finite"),
        ({"long_window": 0}, "long_window must be >= 1"),
        ({"queue_size": -1}, "queue_size must be >= 0 and finite"),
        ({"queue_size": math.nan}, "queue_size must be >= 0 and finite"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    """Invalid settings fail at construction with a precise message."""
    with pytest.raises(ValueError, match=message):
        Gradient2Limit(**kwargs)  # type: ignore[arg-type]


def test_repr() -> None:
    """repr shows the limit and the baseline."""
    assert repr(Gradient2Limit()) == "Gradient2Limit(limit=20, long_rtt=0.0)"


_samples = st.lists(
    st.tuples(
        st.floats(min_value=1e-4, max_value=1.0),  # rtt
        st.integers(min_value=1, max_value=400),  # in flight at admission
        st.booleans(),  # dropped
    ),
    max_size=300,
)


@given(samples=_samples)
def test_baseline_moves_only_on_unqueued_samples(samples: list[tuple[float, int, bool]]) -> None:
    """After warm-up, the baseline rises only on a non-dropped sample admitted app-limited or at the floor."""
    limit = Gradient2Limit(initial_limit=20, min_limit=4, max_limit=100)
    _warm(limit)
    for rtt, inflight, dropped in samples:
        before, estimate = limit.rtt_noload, limit.statistics().estimate
        limit.on_sample(0.0, rtt, inflight, dropped)
        if limit.rtt_noload > before:
            assert not dropped
            assert inflight < estimate / 2 or inflight <= 4
