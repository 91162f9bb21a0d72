"""Tests for seawall.limit.ConcurrencyLimit."""

from __future__ import annotations

import dataclasses

import pytest

from seawall.limit import ConcurrencyLimit


def test_admits_up_to_limit_in_flight() -> None:
    """No more than limit requests are admitted while none is released."""
    conns = ConcurrencyLimit(limit=2)
    assert [conns.try_acquire() for _ in range(3)] == [True, True, False]
    assert conns.in_flight == 2


def test_release_frees_a_slot() -> None:
    """Releasing one request lets exactly one more in."""
    conns = ConcurrencyLimit(limit=1)
    assert conns.try_acquire()
    conns.release()
    assert conns.in_flight == 0
    assert conns.try_acquire()
    assert not conns.try_acquire()


def test_release_without_acquire_is_an_error() -> None:
    """An unmatched release raises instead of silently raising the limit."""
    conns = ConcurrencyLimit(limit=1)
    with pytest.raises(RuntimeError, match="without a matching"):
        conns.release()


def test_statistics_tracks_peak_and_outcomes() -> None:
    """statistics() reports admitted, rejected, in-flight and the peak, frozen."""
    conns = ConcurrencyLimit(limit=2)
    conns.try_acquire()
    conns.try_acquire()
    conns.try_acquire()
    conns.release()
    stats = conns.statistics()
    assert (stats.admitted, stats.rejected, stats.in_flight, stats.peak, stats.limit) == (2, 1, 1, 2, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.peak = 0  # type: ignore[misc]


def test_validates_limit() -> None:
    """A limit below 1 fails at construction."""
    with pytest.raises(ValueError, match="limit must be >= 1"):
        ConcurrencyLimit(limit=0)


def test_repr_shows_limit_and_in_flight() -> None:
    """repr() names the limit and the current in-flight count."""
    conns = ConcurrencyLimit(limit=3)
    conns.try_acquire()
    assert repr(conns) == "ConcurrencyLimit(limit=3, in_flight=1)"
    assert conns.limit == 3
