"""Tests for seawall.breaker's ticket and statistics (through CircuitBreaker, which uses all of
the ticket: outcome, measured duration and the half-open permit)."""

from __future__ import annotations

import dataclasses

import pytest

from seawall.breaker import AdaptiveBreaker, Breaker, BreakerTicket, CircuitBreaker
from seawall.testing import MockClock


def _breaker(**kwargs: object) -> tuple[CircuitBreaker, MockClock]:
    clock = MockClock()
    return CircuitBreaker(clock=clock, **kwargs), clock  # type: ignore[arg-type]


def _ticket(breaker: Breaker) -> BreakerTicket:
    ticket = breaker.allow()
    assert ticket is not None
    return ticket


def test_first_outcome_wins() -> None:
    """A failure reported after a success is ignored: the call counts once, as a success."""
    breaker, _ = _breaker()
    ticket = _ticket(breaker)
    assert not ticket.done
    ticket.success()
    assert ticket.done
    ticket.failure()
    ticket.ignore()
    ticket.success()
    stats = breaker.statistics()
    assert (stats.calls, stats.failures, stats.buffered_calls) == (1, 0, 1)


def test_ignore_counts_nothing_and_ends_the_ticket() -> None:
    """ignore() records no outcome, and a later failure() on the same ticket is dropped."""
    breaker, _ = _breaker()
    ticket = _ticket(breaker)
    ticket.ignore()
    ticket.failure()
    stats = breaker.statistics()
    assert (stats.calls, stats.failures, stats.buffered_calls) == (0, 0, 0)


def test_duration_is_measured_on_the_breakers_clock() -> None:
    """The time between allow() and the outcome, on the injected clock, decides slowness."""
    breaker, clock = _breaker(slow_call_duration=1.0)
    fast, slow = _ticket(breaker), _ticket(breaker)
    clock.jump(1.0)
    fast.success()  # exactly 1.0 s: not slow (strictly longer is)
    clock.jump(0.5)
    slow.success()  # 1.5 s
    stats = breaker.statistics()
    assert (stats.slow_calls, stats.buffered_slow_calls) == (1, 1)


def test_duration_override() -> None:
    """duration= replaces the measured duration."""
    breaker, clock = _breaker(slow_call_duration=1.0)
    ticket = _ticket(breaker)
    clock.jump(10.0)
    ticket.success(duration=0.5)
    _ticket(breaker).failure(duration=2.0)
    assert breaker.statistics().slow_calls == 1


def test_repr() -> None:
    """A ticket's repr shows its start time and whether it is done."""
    breaker, clock = _breaker()
    clock.jump(2.5)
    ticket = _ticket(breaker)
    assert repr(ticket) == "BreakerTicket(start=2.5, done=False)"


def test_statistics_are_frozen() -> None:
    """Snapshots are immutable values."""
    for breaker in (CircuitBreaker(clock=MockClock()), AdaptiveBreaker(clock=MockClock())):
        stats = breaker.statistics()
        with pytest.raises(dataclasses.FrozenInstanceError):
            stats.calls = 1  # type: ignore[misc]


def test_breakers_satisfy_the_protocol() -> None:
    """CircuitBreaker and AdaptiveBreaker are Breakers."""
    assert isinstance(CircuitBreaker(clock=MockClock()), Breaker)
    assert isinstance(AdaptiveBreaker(clock=MockClock()), Breaker)
