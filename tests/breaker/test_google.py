"""Tests for seawall.breaker.AdaptiveBreaker (go-zero's googlebreaker semantics)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.breaker import AdaptiveBreaker, BreakerTicket
from seawall.testing import MockClock

# Defaults are go-zero's: K 1.5, min K 1.1, a 10 s window of 40 buckets (0.25 s), protection 5.
BUCKET = 0.25


class FixedRandom(random.Random):
    """An rng whose draws are scripted: each value once, then the last one forever."""

    def __init__(self, *values: float) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def _breaker(rng: random.Random | None = None, **kwargs: object) -> tuple[AdaptiveBreaker, MockClock]:
    clock = MockClock()
    breaker = AdaptiveBreaker(clock=clock, rng=rng or random.Random(0), **kwargs)  # type: ignore[arg-type]
    return breaker, clock


def _tickets(breaker: AdaptiveBreaker, n: int) -> list[BreakerTicket]:
    tickets = [breaker.allow() for _ in range(n)]
    assert all(t is not None for t in tickets)
    return tickets  # type: ignore[return-value]


def _report(tickets: list[BreakerTicket], successes: int = 0, failures: int = 0) -> None:
    """Report outcomes on tickets taken earlier (so nothing is dropped while setting up)."""
    for _ in range(successes):
        tickets.pop().success()
    for _ in range(failures):
        tickets.pop().failure()


def go_zero_ratio(
    accepts: int,
    total: int,
    failing: int = 0,
    working: int = 0,
    *,
    k: float = 1.5,
    min_k: float = 1.1,
    buckets: int = 40,
    protection: int = 5,
) -> float:
    """googleBreaker.accept()'s dropRatio, written out from googlebreaker.go."""
    weight = max(k - (k - min_k) * failing / buckets, min_k)
    ratio = (total - protection - weight * accepts) / (total + 1)
    return 0.0 if ratio <= 0 else ratio * (buckets - working) / buckets


def test_defaults_are_go_zeros() -> None:
    """A fresh breaker weighs with K = 1.5 and forgives 5 requests."""
    breaker, _ = _breaker()
    stats = breaker.statistics()
    assert (stats.state, stats.weight, stats.drop_ratio, stats.total) == ("closed", 1.5, 0.0, 0)
    assert repr(breaker) == ("AdaptiveBreaker(k=1.5, window=10.0, buckets=40, protection=5, dropping=False)")


def test_no_drop_within_protection() -> None:
    """Five failures and no success drop nothing: (5 - 5 - K*0) / 6 is not above zero."""
    breaker, _ = _breaker(rng=FixedRandom(0.0))
    _report(_tickets(breaker, 5), failures=5)
    assert all(breaker.allow() is not None for _ in range(1000))
    assert breaker.state == "closed"
    assert breaker.statistics().rejected == 0


def test_the_sixth_failure_starts_dropping() -> None:
    """One failure past the protection gives a drop probability of (6 - 5) / 7."""
    breaker, _ = _breaker(rng=FixedRandom(0.0))
    _report(_tickets(breaker, 6), failures=6)
    stats = breaker.statistics()
    assert stats.state == "open"
    assert stats.drop_ratio == pytest.approx(1 / 7)
    assert breaker.allow() is None


def test_drop_ratio_matches_the_sre_formula() -> None:
    """10 successes and 30 failures in one bucket: (40 - 5 - 1.5 * 10) / 41 = 20/41."""
    breaker, _ = _breaker()
    _report(_tickets(breaker, 40), successes=10, failures=30)
    stats = breaker.statistics()
    assert (stats.accepts, stats.total, stats.failing_buckets, stats.working_buckets) == (10, 40, 0, 0)
    assert stats.drop_ratio == pytest.approx(20 / 41)
    assert stats.drop_ratio == pytest.approx(go_zero_ratio(10, 40))


@pytest.mark.parametrize(("draw", "dropped"), [(20 / 41 - 1e-9, True), (20 / 41 + 1e-9, False)])
def test_drops_when_the_draw_is_below_the_ratio(draw: float, dropped: bool) -> None:
    """A call is dropped exactly when rng.random() < drop ratio (go-zero's TrueOnProba)."""
    breaker, _ = _breaker(rng=FixedRandom(draw))
    _report(_tickets(breaker, 40), successes=10, failures=30)
    assert (breaker.allow() is None) is dropped


def test_drop_frequency_with_a_seeded_rng() -> None:
    """Over 4000 fresh breakers in the 20/41 state, the share dropped is within 4 sigma of 20/41."""
    seed = 20260815
    rng = random.Random(seed)
    trials, drops = 4000, 0
    for _ in range(trials):
        breaker, _ = _breaker(rng=rng)
        _report(_tickets(breaker, 40), successes=10, failures=30)
        drops += breaker.allow() is None
    p = 20 / 41
    sigma = math.sqrt(p * (1 - p) / trials)
    assert abs(drops / trials - p) < 4 * sigma, f"seed {seed}: {drops}/{trials}"


def test_k_above_min_k_lets_a_borderline_window_pass() -> None:
    """10 successes, 8 failures: 13 > 1.1 * 10 but 13 <= 1.5 * 10, so nothing is drawn or dropped."""
    breaker, _ = _breaker(rng=FixedRandom(0.0))
    _report(_tickets(breaker, 18), successes=10, failures=8)
    assert all(breaker.allow() is not None for _ in range(10))
    assert breaker.state == "closed"


def test_a_drop_counts_as_a_request() -> None:
    """A dropped call adds one to the window's total (go-zero's markDrop), so ratios compound."""
    breaker, _ = _breaker(rng=FixedRandom(0.0))
    _report(_tickets(breaker, 40), successes=10, failures=30)
    assert breaker.allow() is None
    stats = breaker.statistics()
    assert (stats.total, stats.rejected, stats.calls) == (41, 1, 40)
    assert stats.drop_ratio == pytest.approx(go_zero_ratio(10, 41))


def test_failing_buckets_lower_k() -> None:
    """20 successes, then 10 buckets with only failures: K = 1.5 - 0.4 * 10/40 = 1.4."""
    breaker, clock = _breaker()
    tickets = _tickets(breaker, 50)
    _report(tickets, successes=20)
    for _ in range(10):
        clock.jump(BUCKET)
        _report(tickets, failures=3)
    stats = breaker.statistics()
    assert (stats.failing_buckets, stats.working_buckets) == (10, 0)
    assert stats.weight == pytest.approx(1.4)
    assert stats.drop_ratio == pytest.approx((50 - 5 - 1.4 * 20) / 51)


def test_failing_buckets_can_make_a_borderline_window_drop() -> None:
    """20 successes, 14 failures over 10 failing buckets: 29 <= 1.5 * 20 but 29 > 1.4 * 20, so it drops."""
    breaker, clock = _breaker(rng=FixedRandom(0.0))
    tickets = _tickets(breaker, 34)
    _report(tickets, successes=20)
    for failures in (2, 2, 2, 2, 1, 1, 1, 1, 1, 1):
        clock.jump(BUCKET)
        _report(tickets, failures=failures)
    assert breaker.statistics().drop_ratio == pytest.approx((34 - 5 - 1.4 * 20) / 35)
    assert breaker.allow() is None


def test_k_never_falls_below_min_k() -> None:
    """40 failing buckets would give K = 1.1 exactly; the floor holds it there."""
    breaker, clock = _breaker()
    tickets = _tickets(breaker, 41)
    _report(tickets, successes=1)
    for _ in range(39):
        clock.jump(BUCKET)
        _report(tickets, failures=1)
    stats = breaker.statistics()
    assert stats.failing_buckets == 39
    assert stats.weight == pytest.approx(1.5 - 0.4 * 39 / 40)
    assert AdaptiveBreaker(k=3.0, min_k=2.0, clock=MockClock()).statistics().weight == 3.0


def test_working_buckets_relieve_the_ratio() -> None:
    """30 failures, then 4 buckets of one success each: the ratio is scaled by (40 - 4) / 40."""
    breaker, clock = _breaker()
    tickets = _tickets(breaker, 34)
    _report(tickets, failures=30)
    for _ in range(4):
        clock.jump(BUCKET)
        _report(tickets, successes=1)
    stats = breaker.statistics()
    assert (stats.failing_buckets, stats.working_buckets) == (0, 4)
    assert stats.drop_ratio == pytest.approx((34 - 5 - 1.5 * 4) / 35 * 36 / 40)


@pytest.mark.parametrize(("draw", "dropped"), [(0.62, False), (0.58, True)])
def test_allow_draws_against_the_relieved_ratio(draw: float, dropped: bool) -> None:
    """The draw is compared with the ratio after relief: 23/35 * 36/40 = 0.591, not 23/35 = 0.657."""
    breaker, clock = _breaker(rng=FixedRandom(draw))
    tickets = _tickets(breaker, 34)
    _report(tickets, failures=30)
    for _ in range(4):
        clock.jump(BUCKET)
        _report(tickets, successes=1)
    assert (breaker.allow() is None) is dropped


def test_drop_only_buckets_do_not_extend_runs() -> None:
    """A bucket holding only drops is neither failing nor working (go-zero counts Success/Failure)."""
    breaker, clock = _breaker(rng=FixedRandom(0.0))
    tickets = _tickets(breaker, 31)
    _report(tickets, failures=30)
    clock.jump(BUCKET)
    _report(tickets, successes=1)
    clock.jump(BUCKET)
    assert breaker.allow() is None
    clock.jump(BUCKET)
    stats = breaker.statistics()
    assert (stats.total, stats.working_buckets, stats.failing_buckets) == (32, 1, 0)


def test_empty_buckets_do_not_break_runs() -> None:
    """Idle buckets between two failing buckets leave the failing run at 2 (go-zero's Reduce)."""
    breaker, clock = _breaker()
    tickets = _tickets(breaker, 12)
    _report(tickets, successes=10)
    clock.jump(BUCKET)
    _report(tickets, failures=1)
    clock.jump(5 * BUCKET)
    _report(tickets, failures=1)
    assert breaker.statistics().failing_buckets == 2


def test_a_mixed_bucket_ends_both_runs() -> None:
    """A bucket with a success and a failure resets the failing and the working run."""
    breaker, clock = _breaker()
    tickets = _tickets(breaker, 4)
    _report(tickets, failures=1)
    clock.jump(BUCKET)
    _report(tickets, successes=1)
    clock.jump(BUCKET)
    _report(tickets, successes=1, failures=1)
    stats = breaker.statistics()
    assert (stats.failing_buckets, stats.working_buckets) == (0, 0)


def test_window_expiry_recovers() -> None:
    """Failures at t=0 stop counting when the window (the current bucket and 39 before) passes them."""
    breaker, clock = _breaker(rng=FixedRandom(0.0))
    _report(_tickets(breaker, 30), failures=30)
    assert breaker.state == "open"
    clock.jump(10.0 - BUCKET)
    assert breaker.state == "open"  # bucket 39: bucket 0 is still inside
    assert breaker.statistics().total == 30  # reading the state adds no request
    clock.jump(BUCKET)
    assert breaker.state == "closed"
    assert breaker.statistics().total == 0
    assert breaker.allow() is not None


def test_window_and_buckets_are_configurable() -> None:
    """With a 1 s window, failures from 1 s ago no longer count."""
    breaker, clock = _breaker(window=1.0, buckets=4)
    _report(_tickets(breaker, 30), failures=30)
    clock.jump(0.75)
    assert breaker.state == "open"
    clock.jump(0.25)
    assert breaker.state == "closed"


def test_k_changes_the_acceptance() -> None:
    """10 successes and 20 failures: K 1.5 drops (10/31), K 2.5 does not ((30 - 5 - 25) / 31 = 0)."""
    strict, _ = _breaker()
    lenient, _ = _breaker(k=2.5)
    for breaker in (strict, lenient):
        _report(_tickets(breaker, 30), successes=10, failures=20)
    assert strict.statistics().drop_ratio == pytest.approx(10 / 31)
    assert lenient.statistics().drop_ratio == 0.0
    assert lenient.state == "closed"


def test_protection_is_configurable() -> None:
    """With protection 20, 10 successes and 20 failures drop nothing: 30 - 20 - 15 < 0."""
    breaker, _ = _breaker(protection=20)
    _report(_tickets(breaker, 30), successes=10, failures=20)
    assert breaker.statistics().drop_ratio == 0.0
    zero, _ = _breaker(protection=0, rng=FixedRandom(0.0))
    _report(_tickets(zero, 1), failures=1)
    assert zero.allow() is None  # (1 - 0 - 0) / 2


def test_forced_pass_after_one_second_without_a_pass() -> None:
    """While dropping, a call is let through once more than 1 s passed since the last one was."""
    breaker, clock = _breaker(rng=FixedRandom(0.99, 0.0))
    _report(_tickets(breaker, 30), failures=30)
    assert breaker.allow() is not None  # drawn 0.99: let through, the last pass is now t=0
    assert breaker.allow() is None
    clock.jump(1.0)
    assert breaker.allow() is None  # 1 s since: not more than 1 s
    assert breaker.retry_after() == 0.0
    clock.jump(0.01)
    assert breaker.allow() is not None  # forced
    assert breaker.allow() is None
    assert breaker.retry_after() == pytest.approx(1.0)


def test_no_forced_pass_before_any_pass() -> None:
    """go-zero forces a pass only after one happened while dropping (lastPass > 0)."""
    breaker, clock = _breaker(rng=FixedRandom(0.0))
    _report(_tickets(breaker, 30), failures=30)
    clock.jump(5.0)
    assert breaker.allow() is None
    assert breaker.retry_after() == BUCKET


def test_forced_pass_can_be_disabled() -> None:
    """force_pass=None never lets a call through against the draw."""
    breaker, clock = _breaker(rng=FixedRandom(0.99, 0.0), force_pass=None)
    _report(_tickets(breaker, 30), failures=30)
    assert breaker.allow() is not None
    clock.jump(2.0)
    assert breaker.allow() is None
    assert breaker.retry_after() == BUCKET


def test_ignore_records_nothing() -> None:
    """An ignored outcome is neither a success nor a request."""
    breaker, _ = _breaker()
    _tickets(breaker, 1)[0].ignore()
    stats = breaker.statistics()
    assert (stats.total, stats.accepts, stats.calls) == (0, 0, 0)


def test_lifetime_counters_survive_the_window() -> None:
    """calls and failures count every outcome since creation, not just the window's."""
    breaker, clock = _breaker()
    _report(_tickets(breaker, 3), successes=1, failures=2)
    clock.jump(20.0)
    _report(_tickets(breaker, 1), failures=1)
    stats = breaker.statistics()
    assert (stats.calls, stats.failures, stats.total) == (4, 3, 1)


def test_transitions_are_reported() -> None:
    """on_transition hears closed -> open when dropping starts and open -> closed when it ends."""
    seen: list[tuple[str, str]] = []
    breaker, clock = _breaker(rng=FixedRandom(0.0), on_transition=lambda old, new: seen.append((old, new)))
    _report(_tickets(breaker, 30), failures=30)
    assert breaker.allow() is None
    clock.jump(10.0)
    assert breaker.allow() is not None
    assert seen == [("closed", "open"), ("open", "closed")]
    assert breaker.statistics().transitions == 2


def test_retry_after_is_zero_when_not_dropping() -> None:
    """A healthy breaker can be called now."""
    breaker, _ = _breaker()
    _report(_tickets(breaker, 10), successes=10)
    assert breaker.retry_after() == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_k": 0.9}, "min_k must be >= 1 and finite"),
        ({"min_k": math.nan}, "min_k must be >= 1 and finite"),
        ({"k": 1.0}, "k must be >= min_k and finite"),
        ({"k": math.inf}, "k must be >= min_k and finite"),
        ({"window": 0}, "window must be > 0 and finite"),
        ({"window": math.inf}, "window must be > 0 and finite"),
        ({"buckets": 0}, "buckets must be >= 1"),
        ({"protection": -1}, "protection must be >= 0"),
        ({"force_pass": 0}, "force_pass must be > 0 and finite, or None"),
        ({"force_pass": math.nan}, "force_pass must be > 0 and finite, or None"),
    ],
)
def test_invalid_configuration(kwargs: dict[str, float], message: str) -> None:
    """Bad settings fail at construction with a precise message."""
    with pytest.raises(ValueError, match=f"^{message}$"):
        AdaptiveBreaker(**kwargs)  # type: ignore[arg-type]


# One step: (time to advance in 1/16 s units, outcome). Time stays an exact binary fraction, so the
# reference model's bucket arithmetic is exact.
_steps = st.lists(
    st.tuples(st.integers(0, 24), st.sampled_from(["success", "failure", "ignore"])), max_size=120
)


@given(steps=_steps)
def test_window_matches_a_reference_model(steps: list[tuple[int, str]]) -> None:
    """accepts, total, both runs and the drop ratio equal go-zero's Reduce over the last 40 buckets."""
    breaker, clock = _breaker(rng=FixedRandom(1.0))  # never drops: every outcome is recorded
    events: list[tuple[int, str]] = []  # (bucket, outcome)
    for ticks, outcome in steps:
        clock.jump(ticks / 16)
        ticket = breaker.allow()
        assert ticket is not None
        getattr(ticket, outcome)()
        bucket = int(clock.now() * 4)
        if outcome != "ignore":
            events.append((bucket, outcome))
        accepts = total = failing = working = 0
        for b in range(bucket - 39, bucket + 1):
            succ = sum(1 for e in events if e == (b, "success"))
            fail = sum(1 for e in events if e == (b, "failure"))
            accepts += succ
            total += succ + fail
            working = 0 if fail else working + 1 if succ else working
            failing = 0 if succ else failing + 1 if fail else failing
        stats = breaker.statistics()
        assert (stats.accepts, stats.total, stats.failing_buckets, stats.working_buckets) == (
            accepts,
            total,
            failing,
            working,
        )
        assert stats.drop_ratio == pytest.approx(go_zero_ratio(accepts, total, failing, working))
