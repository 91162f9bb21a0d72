"""Tests for seawall.discovery.DNSResolver (an injected lookup, the mock clock, no network)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from seawall.discovery import DNSResolver, Instance, Resolver
from seawall.testing import MockClock

A = Instance("10.0.0.1", 8080)
B = Instance("10.0.0.2", 8080)
V6 = Instance("fd00::1", 8080)


class FakeDNS:
    """A scripted lookup: each call pops the next answer (a list of IPs, or an exception)."""

    def __init__(self, *answers: list[str] | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []
        self.hang = False

    async def __call__(self, host: str, port: int) -> Sequence[tuple[str, int]]:
        self.calls.append((host, port))
        if self.hang:
            await asyncio.Event().wait()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return [(ip, port) for ip in answer]


def _resolver(dns: FakeDNS, clock: MockClock, **kwargs: float) -> DNSResolver:
    return DNSResolver("svc.ns.svc.cluster.local", 8080, lookup=dns, clock=clock, **kwargs)


async def _tick(clock: MockClock, seconds: float) -> None:
    """Advance the clock and let the background task run its lookup."""
    clock.jump(seconds)
    for _ in range(50):
        await asyncio.sleep(0)


def test_satisfies_resolver_protocol() -> None:
    """DNSResolver is a Resolver."""
    assert isinstance(_resolver(FakeDNS([]), MockClock()), Resolver)


async def test_start_looks_up_once() -> None:
    """start() resolves before returning: every A/AAAA record is an instance, sorted, deduplicated."""
    dns = FakeDNS(["10.0.0.2", "fd00::1", "10.0.0.1", "10.0.0.2"])
    resolver = _resolver(dns, MockClock())
    await resolver.start()
    try:
        assert resolver.instances == (A, B, V6)
        assert dns.calls == [("svc.ns.svc.cluster.local", 8080)]
    finally:
        await resolver.aclose()


async def test_refreshes_on_the_clock() -> None:
    """A background task looks the name up again every `refresh` seconds, not before."""
    clock = MockClock()
    dns = FakeDNS(["10.0.0.1"], ["10.0.0.1", "10.0.0.2"])
    async with _resolver(dns, clock, refresh=30.0) as resolver:
        await _tick(clock, 29.9)
        assert resolver.instances == (A,)
        await _tick(clock, 0.1)
        assert resolver.instances == (A, B)
        assert resolver.statistics().refreshes == 2


async def test_failure_keeps_last_known_instances(caplog: pytest.LogCaptureFixture) -> None:
    """A failing lookup keeps the previous instances, counts the error and marks the resolver stale."""
    clock = MockClock()
    dns = FakeDNS(["10.0.0.1", "10.0.0.2"], OSError("Name or service not known"))
    async with _resolver(dns, clock, refresh=1.0) as resolver:
        with caplog.at_level(logging.WARNING, logger="seawall.discovery"):
            await _tick(clock, 1.0)
            await _tick(clock, 1.0)
        assert resolver.instances == (A, B)
        stats = resolver.statistics()
        assert (stats.errors, stats.stale) == (2, True)
        assert stats.last_error == "OSError: Name or service not known"
    # Logged once, when the resolver turned stale, not at every failed refresh.
    assert caplog.text.count("keeping the 2 last known instances") == 1


async def test_empty_answer_keeps_last_known_instances() -> None:
    """An answer with no record (every pod gone from DNS, or a glitch) is treated as a failure."""
    clock = MockClock()
    dns = FakeDNS(["10.0.0.1"], [])
    async with _resolver(dns, clock, refresh=1.0) as resolver:
        await _tick(clock, 1.0)
        assert resolver.instances == (A,)
        stats = resolver.statistics()
        assert (stats.errors, stats.last_error, stats.stale) == (1, "empty answer", True)


async def test_recovers_from_stale() -> None:
    """A successful lookup after failures clears the stale flag and applies the new answer."""
    clock = MockClock()
    dns = FakeDNS(["10.0.0.1"], OSError("down"), ["10.0.0.2"])
    async with _resolver(dns, clock, refresh=1.0) as resolver:
        await _tick(clock, 1.0)
        assert resolver.statistics().stale
        await _tick(clock, 1.0)
        assert resolver.instances == (B,)
        stats = resolver.statistics()
        assert (stats.stale, stats.last_error, stats.errors) == (False, None, 1)


async def test_notifies_only_on_change() -> None:
    """Subscribers hear the set at once and on changes; the same records reordered are no change."""
    clock = MockClock()
    dns = FakeDNS(["10.0.0.1", "10.0.0.2"], ["10.0.0.2", "10.0.0.1"], OSError("x"), ["10.0.0.2"])
    async with _resolver(dns, clock, refresh=1.0) as resolver:
        seen: list[tuple[Instance, ...]] = []
        resolver.subscribe(seen.append)
        for _ in range(3):
            await _tick(clock, 1.0)
        assert seen == [(A, B), (B,)]
        assert resolver.statistics().changes == 2


async def test_failed_first_lookup_leaves_no_instances_and_retries() -> None:
    """With nothing known yet, a failed first lookup leaves the set empty and stale; a later one fills it."""
    clock = MockClock()
    dns = FakeDNS(OSError("not yet"), ["10.0.0.1"])
    async with _resolver(dns, clock, refresh=5.0) as resolver:
        assert resolver.instances == ()
        assert resolver.statistics().stale
        await _tick(clock, 5.0)
        assert resolver.instances == (A,)


async def test_lookup_timeout_on_the_clock() -> None:
    """A lookup that does not answer within `timeout` (on the clock) fails and keeps the last set."""
    clock = MockClock()
    dns = FakeDNS(["10.0.0.1"])
    async with _resolver(dns, clock, refresh=10.0, timeout=2.0) as resolver:
        dns.hang = True
        await _tick(clock, 10.0)
        assert resolver.statistics().errors == 0  # still waiting
        await _tick(clock, 2.0)
        stats = resolver.statistics()
        assert (stats.errors, stats.stale) == (1, True)
        assert stats.last_error is not None
        assert stats.last_error.startswith("TimeoutError")
        assert resolver.instances == (A,)


async def test_bad_record_counts_as_failure() -> None:
    """An answer the resolver cannot turn into instances (port 0) is an error, not a crash."""
    clock = MockClock()

    async def lookup(host: str, port: int) -> list[tuple[str, int]]:
        return [("10.0.0.1", 0)]

    resolver = DNSResolver("svc", 8080, lookup=lookup, clock=clock)
    await resolver.refresh()
    assert resolver.statistics().errors == 1


async def test_aclose_stops_refreshing() -> None:
    """After aclose() no more lookups happen; aclose() twice is harmless."""
    clock = MockClock()
    dns = FakeDNS(["10.0.0.1"])
    resolver = _resolver(dns, clock, refresh=1.0)
    await resolver.start()
    await resolver.aclose()
    await resolver.aclose()
    await _tick(clock, 10.0)
    assert len(dns.calls) == 1


async def test_start_is_idempotent() -> None:
    """A second start() neither looks up again nor starts a second refresh loop."""
    clock = MockClock()
    dns = FakeDNS(["10.0.0.1"])
    async with _resolver(dns, clock, refresh=1.0) as resolver:
        await resolver.start()
        await _tick(clock, 1.0)
        assert len(dns.calls) == 2


async def test_default_lookup_resolves_localhost() -> None:
    """The default lookup (loop.getaddrinfo) answers loopback addresses for localhost."""
    resolver = DNSResolver("localhost", 8080)
    await resolver.refresh()
    assert resolver.instances
    assert {i.host for i in resolver.instances} <= {"127.0.0.1", "::1"}
    assert {i.port for i in resolver.instances} == {8080}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": ""}, "host must be a non-empty str"),
        ({"port": 0}, r"port must be an int in \[1, 65535\]"),
        ({"refresh": 0.0}, "refresh must be > 0 and finite"),
        ({"refresh": float("nan")}, "refresh must be > 0 and finite"),
        ({"timeout": float("inf")}, "timeout must be > 0 and finite"),
    ],
)
def test_invalid_config(kwargs: dict[str, object], message: str) -> None:
    """Configuration is checked at construction."""
    args: dict[str, object] = {"host": "svc", "port": 80, **kwargs}
    with pytest.raises(ValueError, match=message):
        DNSResolver(**args)  # type: ignore[arg-type]
