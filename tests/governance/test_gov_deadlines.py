"""Deadlines in the request path: the incoming ``X-Seawall-Deadline-Ms`` header can only shorten
the route's timeout, and ``seawall.deadline.remaining()`` tells the handler what is left."""

from __future__ import annotations

import asyncio

import pytest
from tests.governance.gov_support import Gate, check, client, endpoint, wait_until

from seawall import BulkheadPolicy, Policy, Service
from seawall.deadline import remaining
from seawall.testing import MockClock

HEADER = "x-seawall-deadline-ms"


def hanging(clock: MockClock, timeout: float | None) -> tuple[Service, asyncio.Event, list[str]]:
    """A service whose ``/hang`` runs until cancelled, recording what happened to it."""
    svc = Service("deadlines", clock=clock)
    entered = asyncio.Event()
    events: list[str] = []

    @svc.get("/hang", policy=Policy(timeout=timeout))
    async def hang() -> None:
        events.append("ran")
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    return svc, entered, events


def reporting(clock: MockClock, timeout: float | None, elapsed: float = 0.0) -> Service:
    """A service whose ``/left`` spends ``elapsed`` clock seconds, then reports ``remaining()``."""
    svc = Service("deadlines", clock=clock)

    @svc.get("/left", policy=Policy(timeout=timeout))
    async def left() -> dict[str, float | None]:
        clock.jump(elapsed)
        return {"remaining": remaining()}

    return svc


async def test_zero_deadline_is_504_without_running_the_handler(mock_clock: MockClock) -> None:
    """``X-Seawall-Deadline-Ms: 0``: the caller has given up, so 504 and the handler never runs."""
    svc, _, events = hanging(mock_clock, timeout=5.0)
    async with client(svc) as c:
        r = await c.get("/hang", headers={HEADER: "0"})
    assert r.status_code == 504
    assert r.json()["reason"] == "DEADLINE_EXCEEDED"
    assert events == []
    assert svc.metrics.route("/hang", "GET").rejected == {"DEADLINE_EXCEEDED:deadline": 1}


async def test_negative_deadline_is_504_without_running_the_handler(mock_clock: MockClock) -> None:
    """A negative budget (the caller is already late) is treated like zero."""
    svc, _, events = hanging(mock_clock, timeout=5.0)
    async with client(svc) as c:
        r = await c.get("/hang", headers={HEADER: "-20"})
    assert r.status_code == 504
    assert events == []


async def test_smaller_header_shortens_the_route_timeout(mock_clock: MockClock) -> None:
    """Route timeout 10 s, header 500 ms: cancelled with 504 at 0.5 s, not before."""
    svc, entered, events = hanging(mock_clock, timeout=10.0)
    async with client(svc) as c:
        task = asyncio.create_task(c.get("/hang", headers={HEADER: "500"}))
        await entered.wait()
        mock_clock.jump(0.49)
        assert svc.governor.wheel.tick() == 0
        mock_clock.jump(0.02)
        assert svc.governor.wheel.tick() == 1
        r = await task
    assert r.status_code == 504
    assert events == ["ran", "cancelled"]


async def test_larger_header_does_not_lengthen_the_route_timeout(mock_clock: MockClock) -> None:
    """Route timeout 1 s, header 60 s: still cancelled at 1 s."""
    svc, entered, _ = hanging(mock_clock, timeout=1.0)
    async with client(svc) as c:
        task = asyncio.create_task(c.get("/hang", headers={HEADER: "60000"}))
        await entered.wait()
        mock_clock.jump(1.01)
        assert svc.governor.wheel.tick() == 1
        assert (await task).status_code == 504


async def test_remaining_is_timeout_minus_elapsed(mock_clock: MockClock) -> None:
    """Inside a handler with a 2 s timeout that has used 0.5 s, ``remaining()`` is 1.5."""
    svc = reporting(mock_clock, timeout=2.0, elapsed=0.5)
    async with client(svc) as c:
        left = (await c.get("/left")).json()["remaining"]
    assert abs(left - 1.5) < 1e-9


async def test_remaining_follows_a_shorter_incoming_deadline(mock_clock: MockClock) -> None:
    """With a header of 800 ms under a 10 s timeout, ``remaining()`` starts from 0.8."""
    svc = reporting(mock_clock, timeout=10.0, elapsed=0.3)
    async with client(svc) as c:
        left = (await c.get("/left", headers={HEADER: "800"})).json()["remaining"]
    assert abs(left - 0.5) < 1e-9


@pytest.mark.parametrize("value", ["soon", "", "nan", "1e400"])
async def test_unparseable_or_infinite_header_is_ignored(mock_clock: MockClock, value: str) -> None:
    """A deadline header that is not a finite number is ignored: the route's own timeout applies."""
    svc = reporting(mock_clock, timeout=3.0)
    async with client(svc) as c:
        r = await c.get("/left", headers={HEADER: value})
    assert r.status_code == 200
    assert r.json()["remaining"] == 3.0


async def test_remaining_is_none_without_a_timeout(mock_clock: MockClock) -> None:
    """A route with ``timeout=None`` has no deadline: ``remaining()`` is None inside it."""
    svc = reporting(mock_clock, timeout=None)
    async with client(svc) as c:
        assert (await c.get("/left")).json()["remaining"] is None


async def test_deadline_does_not_leak_out_of_the_request(mock_clock: MockClock) -> None:
    """After a request, ``remaining()`` in the caller's context is None again."""
    svc = reporting(mock_clock, timeout=2.0)
    async with client(svc) as c:
        await c.get("/left")
    assert remaining() is None


async def test_finished_request_leaves_nothing_on_the_wheel(mock_clock: MockClock) -> None:
    """A request shortened by the header and finished in time is unwatched afterwards."""
    svc = reporting(mock_clock, timeout=10.0)
    async with client(svc) as c:
        assert (await c.get("/left", headers={HEADER: "100"})).status_code == 200
    assert svc.governor.wheel.watched == 0


async def test_incoming_deadline_counts_time_spent_queued(mock_clock: MockClock) -> None:
    """A request with a 1 s budget that waited 2 s in the bulkhead queue is 504, its handler not run."""
    svc = Service("deadlines", clock=mock_clock)
    gate = Gate()
    ran: list[str] = []

    @svc.get(
        "/q", policy=Policy(timeout=10.0, bulkhead=BulkheadPolicy(max_concurrent=1, max_queue=1, max_wait=5))
    )
    async def q(who: str) -> dict[str, bool]:
        ran.append(who)
        if who == "first":
            await gate.hold()
        return {"ok": True}

    bulkhead = check(endpoint(svc, "/q"), "bulkhead").bulkhead
    async with client(svc) as c:
        first = asyncio.create_task(c.get("/q?who=first"))
        await gate.wait_for(1)
        late = asyncio.create_task(c.get("/q?who=late", headers={HEADER: "1000"}))
        await wait_until(lambda: bulkhead.statistics().queued == 1)
        mock_clock.jump(2.0)
        gate.release.set()
        await first
        r = await late
    assert r.status_code == 504
    assert ran == ["first"]
