"""Tests for seawall.load.VegasLimit (Netflix VegasLimit rules, Envoy-style no-load probing)."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.load import Limit, VegasLimit
from seawall.load._vegas import FLOOR_RUN_BEFORE_PROBE

MS = 0.001


class _FixedRandom:
    """An rng stub whose random() always returns the same value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def _vegas(**kwargs: object) -> VegasLimit:
    """A Vegas limit whose start-up probe ends after one sample, like Netflix's first-sample min RTT."""
    kwargs.setdefault("probe_samples", 1)
    kwargs.setdefault("rng", random.Random(0))
    return VegasLimit(**kwargs)  # type: ignore[arg-type]


def _bottleneck(limit: VegasLimit, *, width: int, service: float, samples: int, t: float = 0.0) -> float:
    """Feed ``samples`` saturated samples from a FIFO bottleneck of ``width`` slots; return the time.

    In steady saturation ``limit`` requests are in flight and each takes ``service * limit / width``
    (or just ``service`` while the limit is below the width); by Little's law one completes every
    ``rtt / limit`` seconds. A sample ends at ``t``, so it was admitted at ``t - rtt``.
    """
    for _ in range(samples):
        n = limit.limit
        rtt = service * max(1.0, n / width)
        limit.on_sample(t - rtt, rtt, n, dropped=False)
        t += rtt / n
    return t


def test_satisfies_limit_protocol() -> None:
    """VegasLimit is a Limit."""
    assert isinstance(_vegas(), Limit)


def test_netflix_defaults() -> None:
    """Initial 20, max 1000, smoothing 1.0 (Netflix); probes pin 3 for 10 samples every 60 s (+15%)."""
    limit = VegasLimit(rng=_FixedRandom(1.0))
    assert limit.limit == 3  # Envoy: the controller starts inside a minRTT window
    assert limit.probing
    for i in range(10):
        limit.on_sample(i * MS, 10 * MS, 1, dropped=False)
    assert not limit.probing
    assert limit.limit == 20
    assert limit.rtt_noload == 10 * MS
    for i in range(200):  # no queue: + 6 * log10(limit) per sample, up to...
        limit.on_sample(1.0 + i, 10 * MS, 10_000, dropped=False)
    assert limit.limit == 1000  # ...the default ceiling


def test_increase_when_no_queue() -> None:
    """Netflix VegasLimitTest.increaseLimit: limit 10, RTT at the no-load RTT -> 16 (+ beta 6)."""
    limit = _vegas(initial_limit=10, max_limit=20)
    limit.on_sample(0, 10 * MS, 10, dropped=False)
    assert limit.limit == 10
    limit.on_sample(1, 10 * MS, 11, dropped=False)
    assert limit.limit == 16


def test_decrease_when_queue_over_beta() -> None:
    """Netflix VegasLimitTest.decreaseLimit: 50 ms against 10 ms no-load -> queue 8 > 6 -> 9."""
    limit = _vegas(initial_limit=10, max_limit=20)
    limit.on_sample(0, 10 * MS, 10, dropped=False)
    limit.on_sample(0, 50 * MS, 11, dropped=False)
    assert limit.limit == 9


def test_hold_within_alpha_and_beta() -> None:
    """Netflix VegasLimitTest.noChangeIfWithinThresholds: 14 ms -> queue 3 -> limit stays 10."""
    limit = _vegas(initial_limit=10, max_limit=20)
    limit.on_sample(0, 10 * MS, 10, dropped=False)
    limit.on_sample(0, 14 * MS, 14, dropped=False)
    assert limit.limit == 10


def test_small_queue_grows_by_one() -> None:
    """A queue of 2 (over threshold 1, under alpha 3) grows the limit by log10(limit) = 1."""
    limit = _vegas(initial_limit=20, max_limit=100)
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    limit.on_sample(1, 11 * MS, 20, dropped=False)  # ceil(20 * (1 - 10/11)) = 2
    assert limit.limit == 21


def test_large_limit_increase_scales_with_log10() -> None:
    """Netflix VegasLimitTest.largeLimitIncrease: 10000 grows by 6 * log10(10000) = 24."""
    limit = _vegas(initial_limit=10_000, max_limit=20_000)
    limit.on_sample(0, 10.0, 5000, dropped=False)
    assert limit.limit == 10_000
    limit.on_sample(20, 10.0, 6000, dropped=False)
    assert limit.limit == 10_024


def test_growth_waits_for_a_request_admitted_after_the_last_change() -> None:
    """After a change ending at E, a sample admitted before E cannot grow the limit; one after E can."""
    limit = _vegas(initial_limit=10, max_limit=100)
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    limit.on_sample(1.0, 10 * MS, 10, dropped=False)  # 10 -> 16, changed at 1.01
    limit.on_sample(1.0, 10 * MS, 16, dropped=False)  # admitted at 1.0, under the old limit
    assert limit.limit == 16
    limit.on_sample(1.01, 10 * MS, 16, dropped=False)
    assert limit.limit == 22


def test_decrease_acts_on_any_sample() -> None:
    """A queue signal shrinks the limit even from a request admitted before the last change."""
    limit = _vegas(initial_limit=20, max_limit=100)
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    limit.on_sample(1.0, 50 * MS, 20, dropped=False)  # 20 -> 19, changed at 1.05
    limit.on_sample(0.5, 50 * MS, 20, dropped=False)
    assert limit.limit == 18


def test_no_growth_while_app_limited() -> None:
    """With fewer than half the limit in flight, even a queue signal leaves the limit alone."""
    limit = _vegas(initial_limit=20)
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    limit.on_sample(0, 10 * MS, 9, dropped=False)
    limit.on_sample(0, 50 * MS, 9, dropped=False)
    assert limit.limit == 20


def test_drop_decreases_even_when_app_limited() -> None:
    """A dropped sample always decreases the limit (Netflix: any drop means back off)."""
    limit = _vegas(initial_limit=20)
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    limit.on_sample(0, 10 * MS, 1, dropped=True)
    assert limit.limit == 19


def test_drop_does_not_lower_the_no_load_rtt() -> None:
    """A dropped request's short RTT (cut off early) is not taken as the no-load RTT."""
    limit = _vegas()
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    limit.on_sample(0, 1 * MS, 1, dropped=True)
    assert limit.rtt_noload == 10 * MS


def test_smaller_rtt_lowers_the_no_load_rtt_without_moving_the_limit() -> None:
    """Between probes any smaller sample becomes the no-load RTT (Netflix), and only that."""
    limit = _vegas(initial_limit=20)
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    limit.on_sample(0, 8 * MS, 20, dropped=False)
    assert (limit.rtt_noload, limit.limit) == (8 * MS, 20)


def test_smoothing_blends_new_and_old() -> None:
    """With smoothing 0.5 a decrease from 100 by log10(100) = 2 lands half-way, at 99."""
    limit = _vegas(initial_limit=100, max_limit=200, smoothing=0.5)
    limit.on_sample(0, 10 * MS, 100, dropped=False)
    limit.on_sample(0, 20 * MS, 100, dropped=False)
    assert limit.statistics().estimate == 99.0


def test_rises_under_constant_no_load_latency_up_to_max() -> None:
    """A saturated limit whose RTT stays at the no-load RTT grows (+6 per sample) and stops at max."""
    limit = _vegas(initial_limit=10, max_limit=50)
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    seen = []
    for i in range(20):
        limit.on_sample(1 + i, 10 * MS, limit.limit, dropped=False)
        seen.append(limit.limit)
    assert seen[:7] == [16, 22, 28, 34, 40, 46, 50]
    assert set(seen[7:]) == {50}


def test_falls_under_queueing_to_a_few_over_the_bottleneck() -> None:
    """Behind an 8-wide bottleneck the limit falls from 40 to 8 + (3..6): a queue of a few requests."""
    limit = _vegas(initial_limit=40)
    limit.on_sample(0, 20 * MS, 1, dropped=False)
    _bottleneck(limit, width=8, service=20 * MS, samples=200, t=1.0)
    assert 11 <= limit.limit <= 14


def test_rises_from_below_the_bottleneck() -> None:
    """Started under the bottleneck's width, the limit climbs to the same band above it."""
    limit = _vegas(initial_limit=2, min_limit=1)
    limit.on_sample(0, 20 * MS, 1, dropped=False)
    _bottleneck(limit, width=8, service=20 * MS, samples=200, t=1.0)
    assert 11 <= limit.limit <= 14


def test_floor_holds_under_drops() -> None:
    """Repeated drops bring the limit down to min_limit and no further."""
    limit = _vegas(initial_limit=20, min_limit=5)
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    for _ in range(FLOOR_RUN_BEFORE_PROBE + 10):
        limit.on_sample(0, 10 * MS, 1, dropped=True)
    assert limit.limit == 5


def test_ignores_non_positive_rtt() -> None:
    """A zero or negative RTT is ignored, during a probe and after it."""
    limit = _vegas()
    limit.on_sample(0, 0.0, 1, dropped=False)
    assert limit.probing
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    limit.on_sample(0, -1.0, 20, dropped=True)
    assert (limit.limit, limit.rtt_noload) == (20, 10 * MS)


def test_probe_pins_the_limit_and_restores_it() -> None:
    """During a probe the limit is probe_limit; afterwards the pre-probe limit comes back."""
    limit = VegasLimit(initial_limit=20, probe_limit=4, probe_samples=3, rng=random.Random(1))
    assert limit.limit == 4
    for i in range(2):
        limit.on_sample(i, 10 * MS, 1, dropped=False)
        assert limit.probing
    limit.on_sample(2, 10 * MS, 1, dropped=False)
    assert not limit.probing
    assert limit.limit == 20


def test_probe_takes_the_smallest_rtt_of_its_samples() -> None:
    """The no-load RTT a probe measures is the minimum over its samples."""
    limit = VegasLimit(probe_samples=3, rng=random.Random(1))
    for rtt in (12 * MS, 9 * MS, 11 * MS):
        limit.on_sample(0, rtt, 1, dropped=False)
    assert limit.rtt_noload == 9 * MS
    assert limit.statistics().probes == 1


def test_reprobes_on_schedule() -> None:
    """The next probe starts with the first sample ending interval * (1 + jitter * u) after the last."""
    limit = VegasLimit(probe_interval=10.0, probe_jitter=0.5, probe_samples=1, rng=_FixedRandom(0.5))
    limit.on_sample(0.0, 10 * MS, 1, dropped=False)  # start-up probe ends at 0.010; next due at 12.51
    due = 0.010 + 10.0 * 1.25
    limit.on_sample(due - 1.0, 1.0 - 1e-6, 20, dropped=False)
    assert not limit.probing
    limit.on_sample(due - 1.0, 1.0, 20, dropped=False)
    assert limit.probing
    assert limit.limit == 3


def test_probe_without_jitter_is_exactly_the_interval() -> None:
    """probe_jitter=0 schedules probes exactly probe_interval apart."""
    limit = VegasLimit(probe_interval=5.0, probe_jitter=0.0, probe_samples=1, rng=_FixedRandom(0.9))
    limit.on_sample(0.0, 1.0, 1, dropped=False)  # ends at 1.0
    limit.on_sample(5.0, 0.999, 1, dropped=False)
    assert not limit.probing
    limit.on_sample(5.0, 1.0, 1, dropped=False)
    assert limit.probing


def test_probe_ignores_requests_admitted_before_it() -> None:
    """envoyproxy/envoy#11579: samples admitted before the probe began neither count nor set the RTT."""
    limit = VegasLimit(probe_interval=1.0, probe_jitter=0.0, probe_samples=2, rng=_FixedRandom(0.0))
    limit.on_sample(0.0, 10 * MS, 1, dropped=False)
    limit.on_sample(0.1, 10 * MS, 1, dropped=False)  # start-up probe done at 0.11; next at 1.11
    limit.on_sample(1.0, 0.2, 20, dropped=False)  # ends at 1.2: the probe begins at 1.2
    assert limit.probing
    for _ in range(5):
        limit.on_sample(1.1, 0.5, 20, dropped=False)  # admitted at 1.1 < 1.2: a queued leftover
    assert limit.probing
    limit.on_sample(1.2, 30 * MS, 1, dropped=False)
    limit.on_sample(1.25, 25 * MS, 1, dropped=False)
    assert not limit.probing
    assert limit.rtt_noload == 25 * MS  # re-learned upwards: the old 10 ms was stale


def test_dropped_samples_do_not_count_in_a_probe() -> None:
    """A drop during a probe is no no-load measurement."""
    limit = VegasLimit(probe_samples=1, rng=random.Random(0))
    limit.on_sample(0, 1 * MS, 1, dropped=True)
    assert limit.probing
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    assert (limit.probing, limit.rtt_noload) == (False, 10 * MS)


def test_limit_stuck_at_the_floor_triggers_a_probe() -> None:
    """envoyproxy/envoy#10647: after a run of samples with the limit at min_limit, a probe starts."""
    limit = _vegas(initial_limit=4, min_limit=2, probe_limit=3)
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    limit.on_sample(0, 10 * MS, 1, dropped=True)  # 4 -> 3: above the floor, no run yet
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    limit.on_sample(0, 10 * MS, 1, dropped=True)  # 3 -> 2: the first sample at the floor
    for _ in range(FLOOR_RUN_BEFORE_PROBE - 2):
        limit.on_sample(0, 10 * MS, 1, dropped=False)  # the limit holds at 2
    assert not limit.probing
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    assert limit.probing
    assert limit.limit == 3  # the probe pins probe_limit, here above the floor


def test_a_sample_off_the_floor_resets_the_run() -> None:
    """The floor run must be consecutive: a sample that leaves the floor starts it again."""
    limit = _vegas(initial_limit=2, min_limit=2, max_limit=10)
    limit.on_sample(0, 10 * MS, 1, dropped=False)
    for _ in range(FLOOR_RUN_BEFORE_PROBE - 1):
        limit.on_sample(0, 10 * MS, 2, dropped=True)
    limit.on_sample(1, 10 * MS, 2, dropped=False)  # no queue, saturated: 2 -> 8
    limit.on_sample(1, 10 * MS, 2, dropped=True)  # 8 -> 7
    assert not limit.probing
    assert limit.limit == 7


def test_sustained_saturation_does_not_creep() -> None:
    """Across many probes under a never-ending overload, the no-load RTT and the limit stay put.

    Netflix's probe (take the current, queued, sample as the new no-load RTT) would raise both at
    every probe; a probe at a pinned low limit measures the real no-load RTT each time.
    """
    limit = VegasLimit(probe_interval=1.0, probe_samples=5, rng=random.Random(7))
    t = _bottleneck(limit, width=8, service=20 * MS, samples=20, t=1.0)
    limits = []
    while t < 20.0:
        t = _bottleneck(limit, width=8, service=20 * MS, samples=1, t=t)
        if not limit.probing:
            limits.append(limit.limit)
        assert limit.rtt_noload == pytest.approx(20 * MS)
    assert limit.statistics().probes >= 15
    assert 11 <= min(limits[-100:]) <= max(limits[-100:]) <= 14


def test_statistics_snapshot() -> None:
    """statistics() reports the limit, the estimate to restore while probing, and the probes."""
    limit = VegasLimit(initial_limit=30, probe_samples=2, rng=random.Random(0))
    stats = limit.statistics()
    assert (stats.limit, stats.estimate, stats.rtt_noload, stats.probing, stats.probes) == (
        3,
        30.0,
        0.0,
        True,
        0,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.limit = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_limit": 0}, "min_limit must be >= 1"),
        ({"min_limit": 10, "max_limit": 5}, "max_limit must be >= min_limit"),
        ({"initial_limit": 0}, r"initial_limit must be in \[min_limit, max_limit\]"),
        ({"initial_limit": 2000}, r"initial_limit must be in \[min_limit, max_limit\]"),
        ({"smoothing": 0}, r"smoothing must be in \(0, 1\]"),
        ({"smoothing": 1.5}, r"smoothing must be in \(0, 1\]"),
        ({"smoothing": math.nan}, r"smoothing must be in \(0, 1\]"),
        ({"probe_interval": 0}, "probe_interval must be > 0 and finite"),
        ({"probe_interval": math.inf}, "probe_interval must be > 0 and finite"),
        ({"probe_jitter": -0.1}, r"probe_jitter must be in \[0, 1\]"),
        ({"probe_jitter": math.nan}, r"probe_jitter must be in \[0, 1\]"),
        ({"probe_limit": 0}, "probe_limit must be >= 1"),
        ({"probe_samples": 0}, "probe_samples must be >= 1"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    """Invalid settings fail at construction with a precise message."""
    with pytest.raises(ValueError, match=message):
        VegasLimit(**kwargs)  # type: ignore[arg-type]


def test_repr() -> None:
    """repr shows the limit and the no-load RTT."""
    assert repr(_vegas()) == "VegasLimit(limit=3, rtt_noload=0.0)"


_samples = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=2.0),  # gap before the sample's admission
        st.floats(min_value=1e-4, max_value=0.5),  # rtt
        st.integers(min_value=1, max_value=60),  # in flight at admission
        st.booleans(),  # dropped
    ),
    max_size=300,
)


@given(samples=_samples, seed=st.integers(0, 2**32 - 1))
def test_no_load_rtt_only_rises_through_a_probe(
    samples: list[tuple[float, float, int, bool]], seed: int
) -> None:
    """Between probe completions the no-load RTT never rises: nothing else can make it creep."""
    limit = VegasLimit(probe_interval=3.0, probe_samples=3, rng=random.Random(seed))
    t = 0.0
    for gap, rtt, inflight, dropped in samples:
        t += gap
        before, probes = limit.rtt_noload, limit.statistics().probes
        limit.on_sample(t, rtt, inflight, dropped)
        if limit.statistics().probes == probes and before > 0:
            assert limit.rtt_noload <= before
