"""Fallbacks: a route's ``fallback`` answers instead of the error when the request is rate
limited, shed or timed out, and marks its answer with ``X-Seawall-Fallback: <REASON>``."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.governance.gov_support import Gate, client, shedder_stats

from seawall import Policy, RateLimitPolicy, Rejected, Request, Service, SheddingPolicy
from seawall.load import FixedCpuProbe
from seawall.testing import MockClock

FALLBACK = "x-seawall-fallback"
ONE_TOKEN = Policy(rate_limit=RateLimitPolicy(rate=1, burst=1))


def cached(request: Request, rejection: Rejected) -> dict[str, Any]:
    return {"cached": True, "why": rejection.reason}


def broken(request: Request, rejection: Rejected) -> dict[str, Any]:
    raise RuntimeError("the fallback's own dependency is down")


def with_fallback(clock: MockClock, policy: Policy, fallback: Any) -> Service:
    svc = Service("fallbacks", clock=clock)

    @svc.get("/x", policy=policy, fallback=fallback)
    async def handler() -> dict[str, bool]:
        return {"fresh": True}

    return svc


async def test_rate_limited_request_gets_the_fallback(mock_clock: MockClock) -> None:
    """Over the rate limit, the fallback's body is served with ``X-Seawall-Fallback: RATE_LIMITED``."""
    svc = with_fallback(mock_clock, ONE_TOKEN, cached)
    async with client(svc) as c:
        fresh = await c.get("/x")
        r = await c.get("/x")
    assert fresh.json() == {"fresh": True}
    assert FALLBACK not in fresh.headers
    assert r.status_code == 200
    assert r.json() == {"cached": True, "why": "RATE_LIMITED"}
    assert r.headers[FALLBACK] == "RATE_LIMITED"


async def test_shed_request_gets_the_fallback(mock_clock: MockClock) -> None:
    """A request shed by an overloaded CPU is answered by the fallback, marked OVERLOADED."""
    svc = Service("fallbacks", clock=mock_clock, cpu_probe=FixedCpuProbe(1000))
    gate = Gate()

    @svc.get("/x", policy=Policy(shedding=SheddingPolicy()), fallback=cached)
    async def handler() -> dict[str, bool]:
        await gate.hold()
        return {"fresh": True}

    n = int(shedder_stats(svc).max_flight)  # most admitted (running=1)
    async with client(svc) as c:
        held = [asyncio.create_task(c.get("/x")) for _ in range(n)]
        await gate.wait_for(n)
        r = await c.get("/x")
        gate.release.set()
        await asyncio.gather(*held)
    assert r.status_code == 200
    assert r.json() == {"cached": True, "why": "OVERLOADED"}
    assert r.headers[FALLBACK] == "OVERLOADED"
    assert gate.entered == n


async def test_timed_out_request_gets_the_fallback(mock_clock: MockClock) -> None:
    """A handler cancelled at its timeout is answered by the fallback, marked DEADLINE_EXCEEDED."""
    svc = Service("fallbacks", clock=mock_clock)
    entered = asyncio.Event()

    @svc.get("/x", policy=Policy(timeout=1.0), fallback=cached)
    async def handler() -> None:
        entered.set()
        await asyncio.Event().wait()

    async with client(svc) as c:
        task = asyncio.create_task(c.get("/x"))
        await entered.wait()
        mock_clock.jump(1.01)
        svc.governor.wheel.tick()
        r = await task
    assert r.status_code == 200
    assert r.json() == {"cached": True, "why": "DEADLINE_EXCEEDED"}
    assert r.headers[FALLBACK] == "DEADLINE_EXCEEDED"


async def test_expired_incoming_deadline_gets_the_fallback(mock_clock: MockClock) -> None:
    """A request arriving with no budget left is answered by the fallback, marked DEADLINE_EXCEEDED."""
    svc = with_fallback(mock_clock, Policy(timeout=5.0), cached)
    async with client(svc) as c:
        r = await c.get("/x", headers={"x-seawall-deadline-ms": "0"})
    assert r.headers[FALLBACK] == "DEADLINE_EXCEEDED"
    assert r.json()["cached"] is True


async def test_failing_fallback_yields_the_original_error(mock_clock: MockClock) -> None:
    """A fallback that raises is logged and the client gets the original 429 error body."""
    svc = with_fallback(mock_clock, ONE_TOKEN, broken)
    async with client(svc) as c:
        await c.get("/x")
        r = await c.get("/x")
    assert r.status_code == 429
    assert r.json()["reason"] == "RATE_LIMITED"
    assert "retry-after" in r.headers
    assert FALLBACK not in r.headers


async def test_async_fallback_is_awaited(mock_clock: MockClock) -> None:
    """An ``async def`` fallback is awaited and its result served."""

    async def from_cache(request: Request, rejection: Rejected) -> dict[str, str]:
        await asyncio.sleep(0)
        return {"cached": request.path}

    svc = with_fallback(mock_clock, ONE_TOKEN, from_cache)
    async with client(svc) as c:
        await c.get("/x")
        r = await c.get("/x")
    assert r.status_code == 200
    assert r.json() == {"cached": "/x"}
    assert r.headers[FALLBACK] == "RATE_LIMITED"


async def test_fallback_answer_is_still_counted_as_a_rejection(mock_clock: MockClock) -> None:
    """A rejection answered by a fallback still counts in the route's rejected statistics."""
    svc = with_fallback(mock_clock, ONE_TOKEN, cached)
    async with client(svc) as c:
        for _ in range(3):
            await c.get("/x")
    assert svc.metrics.route("/x", "GET").rejected == {"RATE_LIMITED:rate_limit": 2}
