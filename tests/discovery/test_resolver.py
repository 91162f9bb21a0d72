"""Tests for seawall.discovery.StaticResolver and the subscriber rules every resolver shares."""

from __future__ import annotations

import logging

import pytest

from seawall.discovery import Instance, Resolver, StaticResolver

A = Instance("10.0.0.1", 80)
B = Instance("10.0.0.2", 80)
C = Instance("10.0.0.3", 80)


def test_satisfies_resolver_protocol() -> None:
    """StaticResolver is a Resolver."""
    assert isinstance(StaticResolver([A]), Resolver)


def test_instances_are_deduplicated_and_sorted() -> None:
    """The given list comes back deduplicated, in a stable order, strings parsed."""
    resolver = StaticResolver([C, "10.0.0.1:80", A, B])
    assert resolver.instances == (A, B, C)


def test_empty_list_is_refused() -> None:
    """A static dependency with no instance is a configuration error."""
    with pytest.raises(ValueError, match="instances must not be empty"):
        StaticResolver([])


def test_a_single_string_is_refused() -> None:
    """A bare string (not a list of them) is refused rather than read character by character."""
    with pytest.raises(TypeError, match="not one str"):
        StaticResolver("10.0.0.1:80")


def test_subscribe_calls_at_once_then_on_change() -> None:
    """A subscriber hears the current set immediately, then each changed set."""
    resolver = StaticResolver([A])
    seen: list[tuple[Instance, ...]] = []
    resolver.subscribe(seen.append)
    resolver.update([A, B])
    assert seen == [(A,), (A, B)]


def test_update_with_same_set_does_not_notify() -> None:
    """Re-applying the same set (in any order, with repeats) is not a change."""
    resolver = StaticResolver([A, B])
    seen: list[tuple[Instance, ...]] = []
    resolver.subscribe(seen.append)
    resolver.update([B, A, A])
    assert seen == [(A, B)]
    assert resolver.statistics().changes == 0


def test_unsubscribe_stops_notifications() -> None:
    """After unsubscribing, changes are no longer delivered; unsubscribing twice is harmless."""
    resolver = StaticResolver([A])
    seen: list[tuple[Instance, ...]] = []
    unsubscribe = resolver.subscribe(seen.append)
    unsubscribe()
    unsubscribe()
    resolver.update([B])
    assert seen == [(A,)]


def test_failing_subscriber_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    """An exception in one subscriber is logged and the next subscriber still hears the change."""
    resolver = StaticResolver([A])

    def broken(instances: tuple[Instance, ...]) -> None:
        if len(instances) > 1:
            raise RuntimeError("boom")

    seen: list[tuple[Instance, ...]] = []
    resolver.subscribe(broken)
    resolver.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="seawall.discovery"):
        resolver.update([A, B])
    assert seen == [(A,), (A, B)]
    assert "subscriber" in caplog.text


async def test_start_and_aclose_are_no_ops() -> None:
    """A static resolver works as an async context manager and keeps its instances."""
    async with StaticResolver([A]) as resolver:
        assert resolver.instances == (A,)
    assert resolver.instances == (A,)


def test_statistics() -> None:
    """A static resolver is never stale and never looks anything up."""
    resolver = StaticResolver([A, B])
    resolver.update([A])
    stats = resolver.statistics()
    assert (stats.instances, stats.refreshes, stats.errors, stats.changes) == (1, 0, 0, 1)
    assert (stats.last_error, stats.stale) == (None, False)
