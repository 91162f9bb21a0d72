"""Tests for seawall.load.AdaptiveShedder."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.load import AdaptiveShedder, FixedCpuProbe, Shedder, ShedTicket
from seawall.testing import MockClock

# Defaults: a 5 s window of 50 buckets, i.e. 0.1 s buckets and 10 buckets per second.


def _shedder(cpu: int = 0, **kwargs: object) -> tuple[AdaptiveShedder, FixedCpuProbe, MockClock]:
    clock = MockClock()
    probe = FixedCpuProbe(cpu)
    return AdaptiveShedder(cpu=probe, clock=clock, **kwargs), probe, clock  # type: ignore[arg-type]


def _warm(shedder: AdaptiveShedder, clock: MockClock, n: int = 4, rt: float = 0.05) -> None:
    """Complete ``n`` concurrent requests of ``rt`` seconds in one bucket, then enter the next bucket."""
    tickets = [shedder.allow() for _ in range(n)]
    clock.jump(rt)
    for t in tickets:
        assert t is not None
        t.accept()
    clock.jump(0.1)


def _hold(shedder: AdaptiveShedder, n: int, *, priority: bool = False) -> list[ShedTicket | None]:
    return [shedder.allow(priority=priority) for _ in range(n)]


def test_satisfies_shedder_protocol() -> None:
    """AdaptiveShedder is a Shedder."""
    shedder, _, _ = _shedder()
    assert isinstance(shedder, Shedder)


def test_max_flight_is_littles_law_on_the_best_bucket() -> None:
    """max_flight = max_pass * buckets_per_second * min_rt: 4 passes of 50 ms in a 0.1 s bucket give 2."""
    shedder, _, clock = _shedder()
    _warm(shedder, clock, n=4, rt=0.05)
    stats = shedder.statistics()
    assert stats.max_pass == 4
    assert stats.min_rt == pytest.approx(0.05)
    assert stats.max_flight == pytest.approx(2.0)


def test_empty_window_defaults() -> None:
    """With no completed request, max_pass is 1 and min_rt 1 s (go-zero's defaults), so max_flight is 10."""
    shedder, _, _ = _shedder()
    stats = shedder.statistics()
    assert (stats.max_pass, stats.min_rt, stats.max_flight) == (1, 1.0, 10.0)


def test_max_flight_is_at_least_one() -> None:
    """Tiny response times cannot push max_flight below one request."""
    shedder, _, clock = _shedder()
    _warm(shedder, clock, n=1, rt=0.0001)
    assert shedder.statistics().max_flight == 1.0


def test_no_drop_when_cpu_low() -> None:
    """Below the CPU threshold every request is admitted, however many are in flight."""
    shedder, _, clock = _shedder(cpu=899)
    _warm(shedder, clock)
    assert all(t is not None for t in _hold(shedder, 500))
    assert shedder.statistics().dropped == 0


def test_drops_when_cpu_high_and_in_flight_over_max_flight() -> None:
    """At the CPU threshold, a request is dropped once in-flight exceeds max_flight (2 here)."""
    shedder, probe, clock = _shedder()
    _warm(shedder, clock)
    probe.value = 900
    held = _hold(shedder, 4)
    assert [t is not None for t in held] == [True, True, True, False]
    stats = shedder.statistics()
    assert (stats.in_flight, stats.dropped, stats.overloaded) == (3, 1, True)


def test_no_drop_when_cpu_high_but_in_flight_small() -> None:
    """An overloaded CPU alone drops nothing while in-flight stays within max_flight (10 by default)."""
    shedder, _, _ = _shedder(cpu=1000)
    assert all(t is not None for t in _hold(shedder, 11))
    assert shedder.allow() is None


def test_one_in_flight_is_never_dropped() -> None:
    """With max_flight at its floor of 1, a second request (one in flight) is still admitted."""
    shedder, probe, clock = _shedder()
    _warm(shedder, clock, n=1, rt=0.0001)
    probe.value = 1000
    assert [t is not None for t in _hold(shedder, 3)] == [True, True, False]


def test_finished_requests_make_room() -> None:
    """Accepting an in-flight request lets the next one in under overload."""
    shedder, probe, clock = _shedder()
    _warm(shedder, clock)
    probe.value = 1000
    held = _hold(shedder, 3)
    assert shedder.allow() is None
    held[0].accept()  # type: ignore[union-attr]
    assert shedder.allow() is not None


def test_cool_off_keeps_shedding_after_cpu_falls() -> None:
    """After a drop, shedding stays armed for 1 s after the CPU was last seen high, then disarms."""
    shedder, probe, clock = _shedder()
    _warm(shedder, clock)
    probe.value = 950
    _hold(shedder, 3)
    assert shedder.allow() is None
    probe.value = 100
    clock.jump(0.9)
    assert shedder.statistics().overloaded
    assert shedder.allow() is None
    clock.jump(0.1)
    assert not shedder.statistics().overloaded
    assert shedder.allow() is not None


def test_no_cool_off_without_a_drop() -> None:
    """A CPU spike that dropped nothing leaves no cool-off behind."""
    shedder, probe, clock = _shedder()
    _warm(shedder, clock)
    probe.value = 950
    assert shedder.allow() is not None
    probe.value = 100
    assert all(t is not None for t in _hold(shedder, 10))


def test_priority_threshold() -> None:
    """Priority requests use (threshold + 1000) // 2: 950 for the default 900."""
    shedder, probe, clock = _shedder()
    assert (shedder.cpu_threshold, shedder.priority_threshold) == (900, 950)
    _warm(shedder, clock)
    _hold(shedder, 3)
    probe.value = 949
    assert shedder.allow() is None
    assert shedder.allow(priority=True) is not None
    probe.value = 950
    assert shedder.allow(priority=True) is None


def test_priority_cool_off_is_separate() -> None:
    """A normal-priority drop does not arm the cool-off for priority requests."""
    shedder, probe, clock = _shedder()
    _warm(shedder, clock)
    _hold(shedder, 3)
    probe.value = 920
    assert shedder.allow() is None
    probe.value = 100
    assert shedder.allow() is None
    assert shedder.allow(priority=True) is not None


def test_window_rolls_old_buckets_out() -> None:
    """A bucket counts while inside the 5 s window and expires after it."""
    shedder, _, clock = _shedder()
    _warm(shedder, clock, n=4, rt=0.05)  # bucket 0; now t = 0.15
    clock.jump(4.8)  # t = 4.95: bucket 49, bucket 0 is the oldest inside the window
    assert shedder.statistics().max_pass == 4
    clock.jump(0.1)  # t = 5.05: bucket 50, bucket 0 has left
    assert (shedder.statistics().max_pass, shedder.statistics().min_rt) == (1, 1.0)


def test_max_pass_and_min_rt_come_from_any_buckets() -> None:
    """max_pass and min_rt are taken independently over the window's buckets."""
    shedder, _, clock = _shedder()
    _warm(shedder, clock, n=6, rt=0.08)
    _warm(shedder, clock, n=2, rt=0.02)
    stats = shedder.statistics()
    assert stats.max_pass == 6
    assert stats.min_rt == pytest.approx(0.02)
    assert stats.max_flight == pytest.approx(6 * 10 * 0.02)


def test_current_bucket_is_ignored() -> None:
    """Requests completed in the current, partial bucket do not count until it ends."""
    shedder, _, clock = _shedder()
    tickets = _hold(shedder, 5)
    clock.jump(0.01)
    for t in tickets:
        t.accept()  # type: ignore[union-attr]
    assert shedder.statistics().max_pass == 1
    clock.jump(0.1)
    assert shedder.statistics().max_pass == 5


def test_other_window_and_buckets() -> None:
    """buckets_per_second is buckets / window: 1 s of 4 buckets gives 4 per second."""
    shedder, _, clock = _shedder(window=1.0, buckets=4)
    tickets = _hold(shedder, 3)
    clock.jump(0.1)
    for t in tickets:
        t.accept()  # type: ignore[union-attr]
    clock.jump(0.25)
    assert shedder.statistics().max_flight == pytest.approx(3 * 4 * 0.1)


def test_reject_leaves_in_flight_without_counting_a_pass() -> None:
    """reject() ends the request's in-flight accounting but adds no pass or response time."""
    shedder, _, clock = _shedder()
    ticket = shedder.allow()
    assert ticket is not None
    assert shedder.statistics().in_flight == 1
    clock.jump(0.05)
    ticket.reject()
    clock.jump(0.1)
    stats = shedder.statistics()
    assert (stats.in_flight, stats.max_pass, stats.min_rt) == (0, 1, 1.0)


def test_ticket_reports_once() -> None:
    """A second accept() or reject() on the same ticket is ignored."""
    shedder, _, _ = _shedder()
    shedder.allow()
    ticket = shedder.allow()
    assert ticket is not None
    ticket.accept()
    ticket.accept()
    ticket.reject()
    assert ticket.done
    assert shedder.statistics().in_flight == 1


def test_statistics_are_frozen() -> None:
    """statistics() returns an immutable snapshot."""
    shedder, _, _ = _shedder()
    stats = shedder.statistics()
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.in_flight = 3  # type: ignore[misc]


def test_counts_passed_and_dropped() -> None:
    """passed counts admissions and dropped counts refusals."""
    shedder, _, _ = _shedder(cpu=1000)
    _hold(shedder, 13)
    stats = shedder.statistics()
    assert (stats.passed, stats.dropped) == (11, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cpu_threshold": -1}, "cpu_threshold must be in"),
        ({"cpu_threshold": 1001}, "cpu_threshold must be in"),
        ({"window": 0}, "window must be > 0"),
        ({"buckets": 1}, "buckets must be >= 2"),
        ({"cool_off": -0.1}, "cool_off must be >= 0"),
    ],
)
def test_rejects_bad_configuration(kwargs: dict[str, object], message: str) -> None:
    """Invalid configuration fails at construction with a precise message."""
    with pytest.raises(ValueError, match=message):
        AdaptiveShedder(cpu=FixedCpuProbe(), clock=MockClock(), **kwargs)  # type: ignore[arg-type]


def test_repr() -> None:
    """repr shows the configuration and in-flight count."""
    shedder, _, _ = _shedder()
    assert repr(shedder) == "AdaptiveShedder(cpu_threshold=900, window=5.0, buckets=50, in_flight=0)"


# One operation: ("allow", priority) | ("accept", index) | ("reject", index) | ("jump", s) | ("cpu", v)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("allow"), st.booleans()),
        st.tuples(st.sampled_from(["accept", "reject"]), st.integers(min_value=0, max_value=50)),
        st.tuples(st.just("jump"), st.floats(min_value=0.0, max_value=2.0)),
        st.tuples(st.just("cpu"), st.integers(min_value=0, max_value=1000)),
    ),
    max_size=200,
)


@given(_ops)
def test_accounting_invariants(ops: list[tuple[str, object]]) -> None:
    """Under any sequence, in-flight equals open tickets (never negative) and the drop ratio is in [0, 1]."""
    shedder, probe, clock = _shedder(cpu=500)
    open_tickets: list[ShedTicket] = []
    allows = 0
    for op, arg in ops:
        if op == "allow":
            allows += 1
            ticket = shedder.allow(priority=bool(arg))
            if ticket is not None:
                open_tickets.append(ticket)
        elif op in ("accept", "reject") and open_tickets:
            ticket = open_tickets.pop(int(arg) % len(open_tickets))  # type: ignore[call-overload]
            ticket.accept() if op == "accept" else ticket.reject()
        elif op == "jump":
            clock.jump(float(arg))  # type: ignore[arg-type]
        elif op == "cpu":
            probe.value = int(arg)  # type: ignore[call-overload]
        stats = shedder.statistics()
        assert stats.in_flight == len(open_tickets) >= 0
        assert stats.passed + stats.dropped == allows
        if allows:
            assert 0.0 <= stats.dropped / allows <= 1.0
        assert stats.max_pass >= 1
        assert stats.max_flight >= 1.0
        assert 0.0 <= stats.min_rt <= 1.0


def test_ticket_repr() -> None:
    """A ticket's repr shows its start time and whether it was reported."""
    shedder, _, clock = _shedder()
    clock.jump(2.5)
    ticket = shedder.allow()
    assert repr(ticket) == "ShedTicket(start=2.5, done=False)"


def test_hot_follows_the_cpu_threshold() -> None:
    """hot() is true while the CPU signal is at or over the threshold, false below it."""
    shedder, probe, _ = _shedder(cpu=100)
    assert not shedder.hot()
    probe.value = 949
    assert shedder.hot()
    assert not shedder.hot(priority=True)  # priority threshold: (900 + 1000) // 2 = 950
    probe.value = 950
    assert shedder.hot(priority=True)


def test_ticket_begin_restarts_the_response_time() -> None:
    """begin() measures the response time from the start of the work, not from admission."""
    shedder, _, clock = _shedder()
    for _ in range(10):
        ticket = shedder.allow()
        assert ticket is not None
        clock.jump(1.0)  # queued on the loop for a second...
        ticket.begin()
        clock.jump(0.002)  # ...then 2 ms of work
        ticket.accept()
    clock.jump(1.0)
    assert shedder.statistics().min_rt == pytest.approx(0.002)


def test_running_offset_counts_the_request_an_event_loop_is_not_running() -> None:
    """With running=1 an overloaded shedder drops one request earlier than with go-zero's count."""
    probe = FixedCpuProbe(1000)
    clock = MockClock()
    plain = AdaptiveShedder(cpu=probe, clock=clock)
    loop = AdaptiveShedder(cpu=probe, running=1, clock=clock)

    def admitted_until_drop(shedder: AdaptiveShedder) -> int:
        n = 0
        while shedder.allow() is not None:
            n += 1
        return n

    # Same (default) max_flight: the event-loop count drops one request earlier.
    assert admitted_until_drop(loop) == admitted_until_drop(plain) - 1


def test_running_must_be_zero_or_one() -> None:
    """running only takes 0 or 1."""
    with pytest.raises(ValueError, match="running must be 0 or 1"):
        AdaptiveShedder(cpu=FixedCpuProbe(), running=2)
