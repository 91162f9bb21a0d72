"""Tests for seawall.breaker.CircuitBreaker (resilience4j's CircuitBreakerStateMachine semantics).

Vectors marked "resilience4j" come from CircuitBreakerStateMachineTest.java.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.breaker import BreakerTicket, CircuitBreaker
from seawall.testing import MockClock


def _breaker(**kwargs: object) -> tuple[CircuitBreaker, MockClock]:
    clock = MockClock()
    return CircuitBreaker(clock=clock, **kwargs), clock  # type: ignore[arg-type]


def _ticket(breaker: CircuitBreaker) -> BreakerTicket:
    ticket = breaker.allow()
    assert ticket is not None
    return ticket


def _calls(breaker: CircuitBreaker, outcomes: str) -> None:
    """Make one call per letter: S success, F failure, I ignored."""
    for letter in outcomes:
        ticket = _ticket(breaker)
        {"S": ticket.success, "F": ticket.failure, "I": ticket.ignore}[letter]()


def _open(breaker: CircuitBreaker) -> None:
    """Fail calls until the breaker opens."""
    while breaker.state == "closed":
        _ticket(breaker).failure()
    assert breaker.state == "open"


def _half_open(breaker: CircuitBreaker, clock: MockClock) -> BreakerTicket:
    """Open the breaker, wait it out, and return the first probe's ticket."""
    _open(breaker)
    clock.jump(breaker.retry_after())
    ticket = _ticket(breaker)
    assert breaker.state == "half_open"
    return ticket


# ------------------------------------------------------------------------------------ defaults


def test_defaults() -> None:
    """Defaults: 100-call window, opens at 50 % once 20 calls are in, 5 s open, 10 probes."""
    breaker, clock = _breaker()
    _calls(breaker, "F" * 19)
    assert breaker.state == "closed"
    _calls(breaker, "F")
    assert breaker.state == "open"
    assert breaker.retry_after() == 5.0
    clock.jump(5.0)
    probes = [breaker.allow() for _ in range(11)]
    assert sum(p is not None for p in probes) == 10
    assert repr(breaker) == (
        "CircuitBreaker(state='half_open', window='100 calls', failure_rate_threshold=50.0)"
    )


def test_default_slow_call_duration_is_five_seconds() -> None:
    """Calls over 5 s are slow; only an all-slow window opens at the default 100 % threshold."""
    breaker, _ = _breaker(minimum_calls=2)
    _ticket(breaker).success(duration=5.0)
    assert breaker.statistics().buffered_slow_calls == 0
    _ticket(breaker).success(duration=5.01)
    assert breaker.state == "closed"  # 50 % slow
    breaker.reset()
    _ticket(breaker).success(duration=6)
    _ticket(breaker).success(duration=6)
    assert breaker.state == "open"


# ------------------------------------------------------------------------- closed: thresholds


def test_exactly_at_the_failure_threshold_opens() -> None:
    """5 failures in 10 calls is 50 %: >= 50 opens (resilience4j compares with >=)."""
    breaker, _ = _breaker(window_size=10, minimum_calls=10)
    _calls(breaker, "SSSSSFFFF")
    _calls(breaker, "F")
    assert breaker.state == "open"
    assert breaker.statistics().failure_rate == 50.0


def test_just_below_the_threshold_stays_closed() -> None:
    """4 failures in 10 calls (40 %) keeps it closed."""
    breaker, _ = _breaker(window_size=10, minimum_calls=10)
    _calls(breaker, "SSSSSSFFFF")
    assert breaker.state == "closed"
    assert breaker.statistics().failure_rate == 40.0


def test_resilience4j_ring_of_five() -> None:
    """resilience4j: 3 failures then 2 successes in a window of 5 open on the fifth call (60 %)."""
    breaker, _ = _breaker(window_size=5, minimum_calls=5)
    _calls(breaker, "FFFS")
    stats = breaker.statistics()
    assert (stats.state, stats.failure_rate, stats.buffered_calls) == ("closed", None, 4)
    _calls(breaker, "S")  # a success completes the minimum and opens
    stats = breaker.statistics()
    assert (stats.state, stats.failure_rate, stats.buffered_failures) == ("open", 60.0, 3)
    assert breaker.allow() is None
    assert breaker.statistics().rejected == 1


def test_below_minimum_calls_never_opens() -> None:
    """19 failures with a minimum of 20: no rate is computed, the breaker stays closed."""
    breaker, _ = _breaker(minimum_calls=20)
    _calls(breaker, "F" * 19)
    stats = breaker.statistics()
    assert (stats.state, stats.failure_rate, stats.slow_call_rate) == ("closed", None, None)


def test_count_window_caps_the_minimum() -> None:
    """A count window of 5 holds at most 5 calls, so a minimum of 100 acts as 5 (resilience4j)."""
    breaker, _ = _breaker(window_size=5, minimum_calls=100)
    _calls(breaker, "FFFFF")
    assert breaker.state == "open"


def test_count_window_forgets_the_oldest_call() -> None:
    """The window holds the last N outcomes: an old failure leaves when an N+1th call arrives."""
    breaker, _ = _breaker(window_size=4, minimum_calls=4, failure_rate_threshold=75)
    _calls(breaker, "FFSS")
    _calls(breaker, "S")  # the first F leaves: 1 of 4
    assert breaker.statistics().buffered_failures == 1
    _calls(breaker, "FF")  # [S, S, F, F] -> 50 %
    assert breaker.state == "closed"
    _calls(breaker, "F")  # [S, F, F, F] -> 75 %
    assert breaker.state == "open"


def test_ignored_calls_are_not_counted() -> None:
    """Ignored outcomes (4xx, cancellations) neither fill the window nor count as calls."""
    breaker, _ = _breaker(window_size=4, minimum_calls=4)
    _calls(breaker, "FIIIIF")
    stats = breaker.statistics()
    assert (stats.state, stats.buffered_calls, stats.calls) == ("closed", 2, 2)


def test_slow_call_rate_opens() -> None:
    """2 slow calls of 4 with a 50 % slow-call threshold open the breaker, all calls succeeding."""
    breaker, clock = _breaker(
        window_size=4, minimum_calls=4, slow_call_duration=1.0, slow_call_rate_threshold=50
    )
    fast = [_ticket(breaker) for _ in range(2)]
    slow = [_ticket(breaker) for _ in range(2)]
    for t in fast:
        t.success()
    clock.jump(1.5)
    slow[0].success()
    assert breaker.state == "closed"
    slow[1].success()
    stats = breaker.statistics()
    assert (stats.state, stats.slow_call_rate, stats.failure_rate, stats.failures) == ("open", 50.0, 0.0, 0)


def test_slow_failures_count_for_both_rates() -> None:
    """A slow failure is both a failure and a slow call (resilience4j's SLOW_ERROR)."""
    breaker, _ = _breaker(window_size=10, minimum_calls=10, slow_call_duration=1.0)
    _ticket(breaker).failure(duration=2.0)
    stats = breaker.statistics()
    assert (stats.buffered_failures, stats.buffered_slow_calls, stats.slow_calls) == (1, 1, 1)


def test_slow_calls_leave_the_count_window() -> None:
    """A slow call pushed out of the window no longer counts towards the slow-call rate."""
    breaker, _ = _breaker(window_size=2, minimum_calls=2, slow_call_duration=1.0)
    _ticket(breaker).success(duration=2.0)
    _ticket(breaker).success()
    _ticket(breaker).success()
    stats = breaker.statistics()
    assert (stats.buffered_slow_calls, stats.slow_call_rate, stats.slow_calls) == (0, 0.0, 1)


# ----------------------------------------------------------------------------------- time window


def test_resilience4j_time_window_vector() -> None:
    """resilience4j (20 s window, minimum 5): S S S F F one second apart stay closed (40 %), a
    third failure at t=5 opens (50 %)."""
    breaker, clock = _breaker(window_type="time", window_size=20, minimum_calls=5)
    for letter in "SSSFF":
        _calls(breaker, letter)
        clock.jump(1.0)
    assert breaker.state == "closed"
    assert breaker.statistics().failure_rate == 40.0
    _calls(breaker, "F")
    assert breaker.state == "open"


def test_time_window_slow_calls() -> None:
    """A time window counts slow calls, and opens on the slow-call rate like a count window."""
    breaker, _ = _breaker(
        window_type="time",
        window_size=5,
        minimum_calls=2,
        slow_call_duration=1.0,
        slow_call_rate_threshold=50,
    )
    _ticket(breaker).success()
    assert breaker.state == "closed"
    _ticket(breaker).success(duration=1.5)
    stats = breaker.statistics()
    assert (stats.state, stats.slow_call_rate, stats.buffered_slow_calls) == ("open", 50.0, 1)


def test_time_window_minimum_is_not_capped() -> None:
    """A time window can hold any number of calls, so its minimum is used as given."""
    breaker, _ = _breaker(window_type="time", window_size=5, minimum_calls=10)
    _calls(breaker, "F" * 9)
    assert breaker.state == "closed"
    _calls(breaker, "F")
    assert breaker.state == "open"


def test_time_window_expiry() -> None:
    """Calls leave a 10 s window once their whole second is 10 s old."""
    breaker, clock = _breaker(window_type="time", window_size=10, minimum_calls=4)
    _calls(breaker, "FFF")
    clock.jump(9.999)
    assert breaker.statistics().buffered_calls == 3
    clock.jump(0.001)  # t = 10: second 0 left the window (seconds 1..10)
    assert breaker.statistics().buffered_calls == 0
    _calls(breaker, "SF")
    assert breaker.state == "closed"


def test_time_window_counts_calls_inside_it() -> None:
    """The same calls one second earlier are still inside the window and open the breaker."""
    breaker, clock = _breaker(window_type="time", window_size=10, minimum_calls=4)
    _calls(breaker, "FFF")
    clock.jump(9.5)
    _calls(breaker, "S")  # 3 of 4 fail
    stats = breaker.statistics()
    assert (stats.state, stats.failure_rate) == ("open", 75.0)


def test_expiry_can_make_a_success_open() -> None:
    """When old successes expire, the next outcome, even a success, is checked and may open."""
    breaker, clock = _breaker(window_type="time", window_size=10, minimum_calls=5)
    _calls(breaker, "S" * 10)
    clock.jump(5.0)
    _calls(breaker, "FFFF")
    assert breaker.state == "closed"  # 4 of 14
    clock.jump(5.0)
    _calls(breaker, "S")  # the 10 successes expired: 4 of 5
    assert breaker.state == "open"


def test_time_window_empty_for_longer_than_itself() -> None:
    """After an idle time longer than the window, every bucket is empty again."""
    breaker, clock = _breaker(window_type="time", window_size=3, minimum_calls=100)
    _calls(breaker, "FF")
    clock.jump(1.0)
    _calls(breaker, "F")
    clock.jump(100.0)
    _calls(breaker, "S")
    stats = breaker.statistics()
    assert (stats.buffered_calls, stats.buffered_failures) == (1, 0)


# -------------------------------------------------------------------------------- open -> half-open


def test_open_rejects_until_the_wait_ends() -> None:
    """An open breaker rejects for wait_duration_in_open, and lets the call at the end in."""
    breaker, clock = _breaker(window_size=2, wait_duration_in_open=5.0)
    _open(breaker)
    clock.jump(4.999)
    assert breaker.allow() is None
    assert breaker.state == "open"
    assert breaker.retry_after() == pytest.approx(0.001)
    clock.jump(0.001)
    assert breaker.retry_after() == 0.0
    assert breaker.state == "open"  # lazily: no timer moved it
    assert breaker.allow() is not None
    assert breaker.state == "half_open"


def test_half_open_permits_n_probes() -> None:
    """resilience4j: 4 permitted probes are allowed, the 5th and later are rejected."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=4)
    probes = [_half_open(breaker, clock)] + [breaker.allow() for _ in range(5)]
    assert [p is not None for p in probes] == [True] * 4 + [False] * 2
    stats = breaker.statistics()
    assert (stats.state, stats.half_open_permits) == ("half_open", 0)
    assert breaker.retry_after() == 5.0


def test_half_open_all_probes_succeed_closes() -> None:
    """4 successful probes close the breaker with an empty window."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=4)
    probes = [_half_open(breaker, clock)] + [_ticket(breaker) for _ in range(3)]
    for p in probes[:3]:
        p.success()
    assert breaker.state == "half_open"
    probes[3].success()
    stats = breaker.statistics()
    assert (stats.state, stats.buffered_calls, stats.attempts) == ("closed", 0, 0)


def test_half_open_failure_rate_above_threshold_reopens() -> None:
    """resilience4j: probes F F S F (75 %) send the breaker back to open."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=4)
    probes = [_half_open(breaker, clock)] + [_ticket(breaker) for _ in range(3)]
    probes[0].failure()
    probes[1].failure()
    probes[2].success()
    probes[3].failure()
    stats = breaker.statistics()
    assert (stats.state, stats.failure_rate, stats.buffered_calls) == ("open", 75.0, 4)


def test_half_open_failure_rate_at_threshold_reopens() -> None:
    """Two failing probes of four (50 %) reopen: the half-open rate uses >= too."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=4)
    probes = [_half_open(breaker, clock)] + [_ticket(breaker) for _ in range(3)]
    for p, letter in zip(probes, "SFSF", strict=True):
        p.success() if letter == "S" else p.failure()
    assert breaker.state == "open"


def test_half_open_failure_below_threshold_closes() -> None:
    """resilience4j: probes F S S S (25 %) close the breaker: one failure alone does not reopen."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=4)
    probes = [_half_open(breaker, clock)] + [_ticket(breaker) for _ in range(3)]
    probes[0].failure()
    assert breaker.state == "half_open"
    for p in probes[1:]:
        p.success()
    assert breaker.state == "closed"


def test_half_open_decides_after_the_minimum_probes() -> None:
    """With minimum_calls 2 < 4 permits, two probe outcomes decide (forHalfOpen's minimum)."""
    breaker, clock = _breaker(window_size=2, minimum_calls=2, permitted_calls_in_half_open=4)
    probes = [_half_open(breaker, clock)] + [_ticket(breaker) for _ in range(3)]
    probes[0].success()
    probes[1].success()
    assert breaker.state == "closed"
    probes[2].failure()  # admitted in half-open: does not count in the new closed window
    probes[3].failure()
    stats = breaker.statistics()
    assert (stats.buffered_calls, stats.calls) == (0, 2 + 4)


def test_half_open_slow_probes_reopen() -> None:
    """resilience4j: 3 slow probes of 4 (75 % >= 50 %) reopen though none failed."""
    breaker, clock = _breaker(
        window_size=2, permitted_calls_in_half_open=4, slow_call_duration=4.0, slow_call_rate_threshold=50
    )
    probes = [_half_open(breaker, clock)] + [_ticket(breaker) for _ in range(3)]
    for p in probes[:3]:
        p.success(duration=5.0)
    probes[3].success(duration=1.0)
    stats = breaker.statistics()
    assert (stats.state, stats.slow_call_rate, stats.failure_rate) == ("open", 75.0, 0.0)


def test_ignored_probe_gives_its_permit_back() -> None:
    """resilience4j's releasePermission: an ignored probe lets another one start."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=1)
    probe = _half_open(breaker, clock)
    assert breaker.allow() is None
    probe.ignore()
    assert breaker.retry_after() == 0.0
    assert breaker.allow() is not None


def test_stale_ignore_gives_no_permit() -> None:
    """Ignoring a call allowed while closed does not add a probe permit in half-open."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=1)
    straggler = _ticket(breaker)
    _half_open(breaker, clock)
    straggler.ignore()
    assert breaker.allow() is None


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_stale_outcomes_do_not_decide_probes(outcome: str) -> None:
    """A call allowed while closed that ends during half-open does not count as a probe."""
    breaker, clock = _breaker(window_size=2, minimum_calls=2, permitted_calls_in_half_open=2)
    straggler = _ticket(breaker)
    probe = _half_open(breaker, clock)
    getattr(straggler, outcome)()
    probe.success()
    assert breaker.statistics().buffered_calls == 1
    assert breaker.state == "half_open"
    _ticket(breaker).success()
    assert breaker.state == "closed"


def test_max_wait_in_half_open_reopens() -> None:
    """Probes that never report: after max_wait_in_half_open the next call reopens the breaker."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=1, max_wait_in_half_open=2.0)
    _half_open(breaker, clock)
    clock.jump(1.5)
    assert breaker.allow() is None
    assert breaker.state == "half_open"
    clock.jump(0.5)  # exactly 2 s
    assert breaker.allow() is None
    stats = breaker.statistics()
    assert (stats.state, stats.attempts) == ("open", 2)


# ------------------------------------------------------------------------------------- open wait


def _wait_of_each_opening(breaker: CircuitBreaker, clock: MockClock, openings: int) -> list[float]:
    """Reopen through failing probes; return the wait each opening imposed."""
    waits = []
    _open(breaker)
    for _ in range(openings):
        wait = breaker.retry_after()
        waits.append(wait)
        clock.jump(wait)
        _ticket(breaker).failure()
    return waits


def test_exponential_open_wait() -> None:
    """resilience4j (ofExponentialBackoff(5 s), multiplier 1.5): 5 s, then 7.5 s, then 11.25 s."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=1, wait_multiplier=1.5)
    assert _wait_of_each_opening(breaker, clock, 3) == [5.0, 7.5, 11.25]


def test_exponential_wait_boundary() -> None:
    """The second opening of a 1.5x breaker rejects at 7.4 s and lets a probe in at 7.5 s."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=1, wait_multiplier=1.5)
    _wait_of_each_opening(breaker, clock, 1)
    clock.jump(7.4)
    assert breaker.allow() is None
    clock.jump(0.1)
    assert breaker.allow() is not None


def test_exponential_wait_is_capped() -> None:
    """max_wait_in_open caps the growth: 5, 10, 12, 12."""
    breaker, clock = _breaker(
        window_size=2, permitted_calls_in_half_open=1, wait_multiplier=2, max_wait_in_open=12
    )
    assert _wait_of_each_opening(breaker, clock, 4) == [5.0, 10.0, 12.0, 12.0]


def test_closing_resets_the_wait() -> None:
    """After the breaker closes, the next opening starts from the initial wait again."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=1, wait_multiplier=2)
    _wait_of_each_opening(breaker, clock, 2)
    clock.jump(breaker.retry_after())
    _ticket(breaker).success()
    assert breaker.state == "closed"
    _open(breaker)
    assert breaker.retry_after() == 5.0


def test_constant_wait_by_default() -> None:
    """Without a multiplier every opening waits wait_duration_in_open."""
    breaker, clock = _breaker(window_size=2, permitted_calls_in_half_open=1, wait_duration_in_open=2.0)
    assert _wait_of_each_opening(breaker, clock, 3) == [2.0, 2.0, 2.0]


# -------------------------------------------------------------------------------- operator states


def test_forced_open_rejects_everything() -> None:
    """force_open() rejects every call, for ever, and retry_after is infinite (no header)."""
    breaker, clock = _breaker()
    breaker.force_open()
    clock.jump(3600)
    assert all(breaker.allow() is None for _ in range(10))
    stats = breaker.statistics()
    assert (stats.state, stats.rejected, stats.buffered_calls) == ("forced_open", 10, 0)
    assert breaker.retry_after() == math.inf


def test_forced_open_ignores_earlier_calls() -> None:
    """Outcomes of calls allowed before force_open() count in totals, not in any window."""
    breaker, _ = _breaker()
    tickets = [_ticket(breaker), _ticket(breaker)]
    breaker.force_open()
    tickets[0].failure()
    tickets[1].success()
    stats = breaker.statistics()
    assert (stats.calls, stats.failures, stats.buffered_calls) == (2, 1, 0)


def test_disabled_allows_everything_and_counts_nothing() -> None:
    """disable() allows every call, failures included, and records no outcome."""
    breaker, _ = _breaker(window_size=2)
    breaker.disable()
    for _ in range(50):
        _ticket(breaker).failure()
    stats = breaker.statistics()
    assert (stats.state, stats.calls, stats.failures, stats.rejected) == ("disabled", 0, 0, 0)
    assert breaker.retry_after() == 0.0


def test_reset_closes_from_any_state() -> None:
    """reset() and close() bring forced-open, disabled and open breakers back to closed, empty."""
    breaker, _ = _breaker(window_size=2)
    for operate in (breaker.force_open, breaker.disable, lambda: _open(breaker)):
        operate()
        breaker.reset()
        stats = breaker.statistics()
        assert (stats.state, stats.buffered_calls, stats.attempts) == ("closed", 0, 0)
    _open(breaker)
    breaker.close()
    assert breaker.state == "closed"


def test_reset_when_closed_only_empties_the_window() -> None:
    """reset() while closed reports no transition, empties the window, keeps lifetime counters."""
    seen: list[tuple[str, str]] = []
    breaker, _ = _breaker(window_size=4, on_transition=lambda old, new: seen.append((old, new)))
    _calls(breaker, "FFS")
    in_flight = _ticket(breaker)
    breaker.reset()
    in_flight.failure()  # allowed before the reset: not in the new window
    stats = breaker.statistics()
    assert (stats.buffered_calls, stats.calls, stats.transitions, seen) == (0, 4, 0, [])


# ----------------------------------------------------------------------------- transitions, stats


def test_transitions_are_reported_in_order() -> None:
    """on_transition hears every change: closed -> open -> half_open -> closed, then operator ones."""
    seen: list[tuple[str, str]] = []
    breaker, clock = _breaker(
        window_size=2, permitted_calls_in_half_open=1, on_transition=lambda old, new: seen.append((old, new))
    )
    _half_open(breaker, clock).success()
    breaker.force_open()
    breaker.disable()
    breaker.reset()
    assert seen == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
        ("closed", "forced_open"),
        ("forced_open", "disabled"),
        ("disabled", "closed"),
    ]
    assert breaker.statistics().transitions == 6


def test_open_statistics_keep_the_window_that_opened_it() -> None:
    """While open, the snapshot shows the failure rate that opened the breaker (resilience4j)."""
    breaker, _ = _breaker(window_size=4, minimum_calls=4)
    _calls(breaker, "SFFF")
    stats = breaker.statistics()
    assert (stats.state, stats.failure_rate, stats.attempts, stats.retry_after) == ("open", 75.0, 1, 5.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_type": "sliding"}, "window_type must be 'count' or 'time'"),
        ({"window_size": 0}, "window_size must be >= 1"),
        ({"minimum_calls": 0}, "minimum_calls must be >= 1"),
        ({"failure_rate_threshold": 0}, r"failure_rate_threshold must be in \(0, 100\]"),
        ({"failure_rate_threshold": 100.5}, r"failure_rate_threshold must be in \(0, 100\]"),
        ({"failure_rate_threshold": math.nan}, r"failure_rate_threshold must be in \(0, 100\]"),
        ({"slow_call_rate_threshold": 0}, r"slow_call_rate_threshold must be in \(0, 100\]"),
        ({"slow_call_duration": 0}, "slow_call_duration must be > 0 and finite"),
        ({"slow_call_duration": math.inf}, "slow_call_duration must be > 0 and finite"),
        ({"wait_duration_in_open": 0}, "wait_duration_in_open must be > 0 and finite"),
        ({"wait_duration_in_open": math.nan}, "wait_duration_in_open must be > 0 and finite"),
        ({"wait_multiplier": 0.5}, "wait_multiplier must be >= 1 and finite"),
        ({"max_wait_in_open": 4.0}, "max_wait_in_open must be >= wait_duration_in_open and finite, or None"),
        (
            {"max_wait_in_open": math.inf},
            "max_wait_in_open must be >= wait_duration_in_open and finite, or None",
        ),
        ({"permitted_calls_in_half_open": 0}, "permitted_calls_in_half_open must be >= 1"),
        ({"max_wait_in_half_open": 0}, "max_wait_in_half_open must be > 0 and finite, or None"),
    ],
)
def test_invalid_configuration(kwargs: dict[str, object], message: str) -> None:
    """Bad settings fail at construction with a precise message."""
    with pytest.raises(ValueError, match=f"^{message}$"):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ properties


@given(
    outcomes=st.lists(st.booleans(), max_size=200),
    size=st.integers(1, 30),
    minimum=st.integers(1, 40),
    threshold=st.sampled_from([10.0, 25.0, 33.3, 50.0, 75.0, 100.0]),
)
def test_count_window_rate_is_failures_over_the_last_n(
    outcomes: list[bool], size: int, minimum: int, threshold: float
) -> None:
    """While closed, the window holds exactly the last N outcomes; the breaker opens at the first
    outcome where failures/calls over them reaches the threshold with the minimum met."""
    breaker, _ = _breaker(window_size=size, minimum_calls=minimum, failure_rate_threshold=threshold)
    seen: list[bool] = []
    for failed in outcomes:
        ticket = _ticket(breaker)
        ticket.failure() if failed else ticket.success()
        seen.append(failed)
        last = seen[-size:]
        stats = breaker.statistics()
        assert (stats.buffered_calls, stats.buffered_failures) == (len(last), sum(last))
        if len(last) >= min(minimum, size):
            assert stats.failure_rate == pytest.approx(100 * sum(last) / len(last))
            if sum(last) * 100 >= threshold * len(last):
                assert stats.state == "open"
                return
        else:
            assert stats.failure_rate is None
        assert stats.state == "closed"


@given(
    steps=st.lists(st.tuples(st.integers(0, 40), st.booleans()), max_size=120),
    size=st.integers(1, 8),
)
def test_time_window_holds_the_calls_of_the_last_seconds(steps: list[tuple[int, bool]], size: int) -> None:
    """While closed, a time window of N s holds the outcomes whose second is among the last N."""
    breaker, clock = _breaker(
        window_type="time", window_size=size, minimum_calls=10_000, failure_rate_threshold=100
    )
    events: list[tuple[int, bool]] = []
    for tenths, failed in steps:
        clock.jump(tenths / 8)  # exact binary fractions of a second
        ticket = _ticket(breaker)
        ticket.failure() if failed else ticket.success()
        second = math.floor(clock.now())
        events.append((second, failed))
        inside = [f for s, f in events if s > second - size]
        stats = breaker.statistics()
        assert (stats.buffered_calls, stats.buffered_failures) == (len(inside), sum(inside))
