"""Tests for seawall.breaker.NoopBreaker."""

from __future__ import annotations

from seawall.breaker import Breaker, NoopBreaker


def test_always_allows() -> None:
    """NoopBreaker allows every call, whatever the outcomes reported."""
    breaker = NoopBreaker()
    for _ in range(100):
        ticket = breaker.allow()
        assert ticket is not None
        ticket.failure()
    assert breaker.state == "closed"
    assert breaker.retry_after() == 0.0


def test_counts_nothing() -> None:
    """Its statistics stay zero after calls and failures."""
    breaker = NoopBreaker()
    ticket = breaker.allow()
    assert ticket is not None
    ticket.failure()
    stats = breaker.statistics()
    assert (stats.state, stats.calls, stats.failures, stats.rejected, stats.transitions) == (
        "closed",
        0,
        0,
        0,
        0,
    )


def test_satisfies_breaker_protocol() -> None:
    """NoopBreaker is a Breaker."""
    assert isinstance(NoopBreaker(), Breaker)
    assert repr(NoopBreaker()) == "NoopBreaker()"
