"""Tests for seawall.load.NoopShedder."""

from __future__ import annotations

from seawall.load import NoopShedder, Shedder


def test_always_allows() -> None:
    """NoopShedder admits every request, priority or not, and its tickets do nothing."""
    shedder = NoopShedder()
    for priority in (False, True) * 100:
        ticket = shedder.allow(priority=priority)
        assert ticket is not None
        ticket.accept()
        ticket.reject()


def test_statistics_are_zero() -> None:
    """NoopShedder reports an idle, never-overloaded shedder."""
    stats = NoopShedder().statistics()
    assert (stats.in_flight, stats.dropped, stats.passed, stats.overloaded) == (0, 0, 0, False)


def test_satisfies_shedder_protocol() -> None:
    """NoopShedder is a Shedder."""
    assert isinstance(NoopShedder(), Shedder)
    assert repr(NoopShedder()) == "NoopShedder()"
