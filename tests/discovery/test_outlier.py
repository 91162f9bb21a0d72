"""Tests for seawall.discovery.OutlierDetector (Envoy's consecutive-failure outlier detection)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.discovery import Ejector, Instance, NoopOutlierDetector, OutlierDetector
from seawall.testing import MockClock

POOL = [Instance(f"10.0.0.{i}", 80) for i in range(1, 11)]  # 10 hosts: 10% is exactly one
A, B, C = POOL[:3]


def _detector(pool: list[Instance] = POOL, **kwargs: object) -> tuple[OutlierDetector, MockClock]:
    clock = MockClock()
    return OutlierDetector(pool, clock=clock, **kwargs), clock  # type: ignore[arg-type]


def _fail(detector: OutlierDetector, instance: Instance, times: int = 5) -> None:
    for _ in range(times):
        detector.record(instance, ok=False)


def _until(detector: OutlierDetector, instance: Instance) -> float | None:
    (s,) = [s for s in detector.statistics().instances if s.instance == instance]
    return s.ejected_until


def test_satisfies_ejector_protocol() -> None:
    """OutlierDetector and its no-op twin are Ejectors."""
    assert isinstance(OutlierDetector(), Ejector)
    assert isinstance(NoopOutlierDetector(), Ejector)


def test_five_consecutive_failures_eject() -> None:
    """Envoy's default consecutive_5xx=5: the fifth failure in a row ejects, the fourth does not."""
    detector, _ = _detector()
    _fail(detector, A, 4)
    assert detector.ejected() == frozenset()
    detector.record(A, ok=False)
    assert detector.ejected() == {A}


def test_success_resets_the_count() -> None:
    """A success between failures starts the count again."""
    detector, _ = _detector()
    _fail(detector, A, 4)
    detector.record(A, ok=True)
    _fail(detector, A, 4)
    assert detector.ejected() == frozenset()


def test_threshold_is_configurable() -> None:
    """consecutive_failures sets how many failures in a row eject."""
    detector, _ = _detector(consecutive_failures=2)
    _fail(detector, A, 2)
    assert detector.ejected() == {A}


def test_first_ejection_lasts_base_time_then_returns() -> None:
    """The first ejection lasts base_ejection_time (30 s): still out just before, back at 30 s."""
    detector, clock = _detector()
    _fail(detector, A)
    assert _until(detector, A) == 30.0
    clock.jump(29.5)
    assert detector.ejected() == {A}
    clock.jump(0.5)
    assert detector.ejected() == frozenset()
    assert detector.statistics().returns == 1


def test_repeat_ejections_grow_by_base_time() -> None:
    """A host that fails again right after returning is ejected for 30 s, then 60 s, then 90 s."""
    detector, clock = _detector()
    durations = []
    for _ in range(3):
        start = clock.now()
        _fail(detector, A)
        until = _until(detector, A)
        assert until is not None
        durations.append(until - start)
        clock.jump(until - start)
    assert durations == [30.0, 60.0, 90.0]


def test_ejection_time_is_capped_and_backoff_stops_growing() -> None:
    """Ejections cap at max_ejection_time (300 s); the multiplier stops at 11 (11 * 30 >= 300 + 30)."""
    detector, clock = _detector()
    durations = []
    for _ in range(14):
        start = clock.now()
        _fail(detector, A)
        until = _until(detector, A)
        assert until is not None
        durations.append(until - start)
        clock.jump(until - start)
    assert durations[:10] == [30.0 * n for n in range(1, 11)]
    assert durations[10:] == [300.0] * 4
    (stats,) = [s for s in detector.statistics().instances if s.instance == A]
    assert stats.backoff == 11


def test_max_ejection_time_defaults_to_base_when_larger() -> None:
    """As in Envoy, max_ejection_time defaults to max(300 s, base_ejection_time)."""
    detector, _ = _detector(base_ejection_time=600.0)
    _fail(detector, A)
    assert _until(detector, A) == 600.0


def test_backoff_decays_one_step_per_healthy_interval() -> None:
    """Each full interval (10 s) a returned host stays healthy takes one step off the multiplier."""
    detector, clock = _detector()
    _fail(detector, A)  # backoff 1 -> 30 s
    clock.jump(30.0)
    _fail(detector, A)  # right after returning: backoff 2 -> 60 s
    clock.jump(60.0)
    clock.jump(19.0)  # one full healthy interval: 2 - 1 = 1, then +1 -> 60 s again
    start = clock.now()
    _fail(detector, A)
    assert _until(detector, A) == start + 60.0
    clock.jump(60.0 + 25.0)  # two full intervals: 2 - 2 = 0, then +1 -> 30 s
    start = clock.now()
    _fail(detector, A)
    assert _until(detector, A) == start + 30.0


def test_failures_while_ejected_do_not_extend_the_ejection() -> None:
    """Late failures of calls that were in flight do not re-eject or lengthen an ejected host."""
    detector, _ = _detector()
    _fail(detector, A)
    _fail(detector, A, 12)
    assert _until(detector, A) == 30.0
    assert detector.statistics().ejections == 1


def test_returned_host_starts_counting_from_zero() -> None:
    """The count is reset on return, so failures recorded while ejected do not count after."""
    detector, clock = _detector()
    _fail(detector, A)
    _fail(detector, A, 3)
    clock.jump(30.0)
    _fail(detector, A, 4)
    assert detector.ejected() == frozenset()
    detector.record(A, ok=False)
    assert detector.ejected() == {A}


def test_max_ejection_percent_caps_the_ejected_share() -> None:
    """With 10 hosts and max_ejection_percent=10, a second failing host is not ejected (overflow)."""
    detector, _ = _detector()
    _fail(detector, A)
    _fail(detector, B)
    assert detector.ejected() == {A}
    assert detector.statistics().overflow == 1


def test_percent_allows_more_in_a_larger_pool() -> None:
    """With 20 hosts, 10% allows two ejections and refuses the third."""
    pool = [Instance(f"10.0.1.{i}", 80) for i in range(20)]
    detector, _ = _detector(pool)
    for host in pool[:3]:
        _fail(detector, host)
    assert detector.ejected() == set(pool[:2])


def test_overflowed_host_needs_a_new_streak() -> None:
    """As in Envoy, the count resets after a refused ejection: the next attempt takes five more failures."""
    detector, clock = _detector()
    _fail(detector, A)
    _fail(detector, B)  # refused
    clock.jump(30.0)  # A returns, there is room again
    _fail(detector, B, 4)
    assert B not in detector.ejected()
    detector.record(B, ok=False)
    assert B in detector.ejected()


def test_small_pool_ejects_one_by_default() -> None:
    """In a pool of 3 (10% would allow none) one host may be ejected, not two."""
    detector, _ = _detector([A, B, C])
    _fail(detector, A)
    _fail(detector, B)
    assert detector.ejected() == {A}


def test_envoy_default_never_ejects_from_a_small_pool() -> None:
    """With always_eject_one=False (Envoy's default), 10% of a pool of 3 allows no ejection at all."""
    detector, _ = _detector([A, B, C], always_eject_one=False)
    _fail(detector, A)
    assert detector.ejected() == frozenset()
    assert detector.statistics().overflow == 1


def test_only_instance_is_never_ejected_by_default() -> None:
    """A pool of one keeps its host: there is nowhere else to send the call."""
    detector, _ = _detector([A])
    _fail(detector, A)
    assert detector.ejected() == frozenset()


def test_percent_100_may_eject_everything() -> None:
    """max_ejection_percent=100 lets every host be ejected, the only one included."""
    detector, _ = _detector([A, B], max_ejection_percent=100.0)
    _fail(detector, A)
    _fail(detector, B)
    assert detector.ejected() == {A, B}


def test_hooks_report_ejection_and_return() -> None:
    """on_eject gets the instance and the ejection's length; on_return gets the instance."""
    events: list[tuple[str, Instance, float | None]] = []
    detector, clock = _detector(
        on_eject=lambda i, s: events.append(("eject", i, s)),
        on_return=lambda i: events.append(("return", i, None)),
    )
    _fail(detector, A)
    clock.jump(31.0)
    detector.ejected()
    assert events == [("eject", A, 30.0), ("return", A, None)]


def test_jitter_is_added_from_the_rng() -> None:
    """max_ejection_jitter adds up to that many seconds, drawn from the injected rng."""
    detector, _ = _detector(max_ejection_jitter=5.0, rng=random.Random(4))
    _fail(detector, A)
    assert _until(detector, A) == pytest.approx(30.0 + random.Random(4).uniform(0.0, 5.0))


def test_unknown_instances_are_ignored() -> None:
    """Outcomes for instances outside the pool change nothing."""
    detector, _ = _detector()
    _fail(detector, Instance("192.0.2.1", 80), 10)
    assert detector.ejected() == frozenset()


def test_update_drops_a_removed_ejected_host() -> None:
    """An ejected host that leaves the pool leaves the ejected set, making room for another."""
    detector, _ = _detector()
    _fail(detector, A)
    detector.update(POOL[1:])
    assert detector.ejected() == frozenset()
    _fail(detector, B)
    assert detector.ejected() == {B}


def test_update_keeps_staying_hosts_state() -> None:
    """A host that stays across an update keeps its ejection."""
    detector, _ = _detector()
    _fail(detector, A)
    detector.update([*POOL, Instance("10.0.0.200", 80)])
    assert detector.ejected() == {A}


def test_statistics() -> None:
    """statistics() reports hosts, ejected, totals and per-host counters."""
    detector, _ = _detector()
    _fail(detector, A)
    _fail(detector, B, 2)
    stats = detector.statistics()
    assert (stats.hosts, stats.ejected, stats.ejections, stats.overflow, stats.returns) == (10, 1, 1, 0, 0)
    by_host = {s.instance: s for s in stats.instances}
    assert (by_host[A].ejections, by_host[A].backoff, by_host[A].ejected_until) == (1, 1, 30.0)
    assert (by_host[B].consecutive_failures, by_host[B].ejected_until) == (2, None)


def test_noop_never_ejects() -> None:
    """NoopOutlierDetector ignores every outcome."""
    detector = NoopOutlierDetector()
    detector.update(POOL)
    _fail(detector, A, 50)  # type: ignore[arg-type]
    assert detector.ejected() == frozenset()
    assert detector.statistics().ejections == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"consecutive_failures": 0}, "consecutive_failures must be an int >= 1"),
        ({"consecutive_failures": True}, "consecutive_failures must be an int >= 1"),
        ({"base_ejection_time": 0.0}, "base_ejection_time must be > 0 and finite"),
        ({"base_ejection_time": math.inf}, "base_ejection_time must be > 0 and finite"),
        (
            {"base_ejection_time": 30.0, "max_ejection_time": 10.0},
            "max_ejection_time must be finite and >= base",
        ),
        ({"max_ejection_percent": 101.0}, r"max_ejection_percent must be in \[0, 100\]"),
        ({"max_ejection_percent": math.nan}, r"max_ejection_percent must be in \[0, 100\]"),
        ({"interval": 0.0}, "interval must be > 0 and finite"),
        ({"max_ejection_jitter": -1.0}, "max_ejection_jitter must be >= 0 and finite"),
    ],
)
def test_invalid_config(kwargs: dict[str, object], message: str) -> None:
    """Configuration is checked at construction, as precisely as Envoy's validation."""
    with pytest.raises(ValueError, match=message):
        OutlierDetector(**kwargs)  # type: ignore[arg-type]


_events = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("jump"), st.floats(0.0, 400.0), st.just(value=True)),
    ),
    max_size=200,
)


@given(
    size=st.integers(1, 12),
    percent=st.sampled_from([0.0, 10.0, 34.0, 50.0, 100.0]),
    always_one=st.booleans(),
    events=_events,
)
def test_never_ejects_beyond_the_bounded_share(
    size: int, percent: float, always_one: bool, events: list[tuple[str, float, bool]]
) -> None:
    """Ejected hosts never exceed max(percent of the pool, 1 if always_eject_one and 2+ hosts)."""
    pool = [Instance(f"10.0.2.{i}", 80) for i in range(size)]
    detector, clock = _detector(
        pool, consecutive_failures=1, max_ejection_percent=percent, always_eject_one=always_one
    )
    bound = max(math.floor(percent * size / 100 + 1e-9), 1 if always_one and size >= 2 else 0)
    for kind, value, ok in events:
        if kind == "jump":
            clock.jump(value)
        else:
            detector.record(pool[int(value) % size], ok=ok)
        assert len(detector.ejected()) <= bound
        assert all(until is None or until > clock.now() for until in (_until(detector, i) for i in pool))
