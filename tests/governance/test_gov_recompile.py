"""Runtime rules: ``Service.recompile`` swaps limits atomically, lets requests in flight finish,
keeps the state of unchanged limiters and changes nothing when it fails."""

from __future__ import annotations

import asyncio

import pytest
from tests.governance.gov_support import Gate, check, client, endpoint

from seawall import ConfigError, Policy, RateLimitPolicy, Service
from seawall.testing import MockClock

TWO = RateLimitPolicy(rate=1, burst=2)


def service(clock: MockClock, policy: Policy | None = None) -> Service:
    svc = Service("rules", clock=clock)

    @svc.get("/x", policy=policy)
    async def x() -> dict[str, bool]:
        return {"ok": True}

    return svc


async def codes(svc: Service, n: int) -> list[int]:
    async with client(svc) as c:
        return [(await c.get("/x")).status_code for _ in range(n)]


async def test_recompile_applies_a_new_limit(mock_clock: MockClock) -> None:
    """An unlimited route becomes limited by the next request after ``recompile``."""
    svc = service(mock_clock)
    assert await codes(svc, 5) == [200] * 5
    svc.recompile({"GET /x": Policy(rate_limit=TWO)})
    assert await codes(svc, 3) == [200, 200, 429]


async def test_recompile_can_lift_a_limit(mock_clock: MockClock) -> None:
    """Recompiling without a rate limit admits requests the old limit refused."""
    svc = service(mock_clock, Policy(rate_limit=TWO))
    assert await codes(svc, 3) == [200, 200, 429]
    svc.recompile({"/x": Policy()})
    assert await codes(svc, 3) == [200, 200, 200]


async def test_request_in_flight_during_recompile_completes(mock_clock: MockClock) -> None:
    """A request inside the handler while the chain is swapped still gets its 200, and its slot is freed."""
    svc = Service("rules", clock=mock_clock)
    gate = Gate()

    @svc.get("/x", policy=Policy(max_conns=1))
    async def x() -> dict[str, bool]:
        await gate.hold()
        return {"ok": True}

    old = check(endpoint(svc, "/x"), "concurrency").limit
    async with client(svc) as c:
        inflight = asyncio.create_task(c.get("/x"))
        await gate.wait_for(1)
        svc.recompile({"GET /x": Policy(max_conns=1, rate_limit=TWO)})
        gate.release.set()
        r = await inflight
    assert r.status_code == 200
    assert old.in_flight == 0
    assert endpoint(svc, "/x").chain.names == ["loop_detection", "concurrency", "rate_limit"]


async def test_unchanged_sub_policy_keeps_the_limiter_state(mock_clock: MockClock) -> None:
    """Recompiling with the same rate limit (other fields changed) keeps the bucket: no free refill."""
    svc = service(mock_clock, Policy(rate_limit=TWO))
    before = check(endpoint(svc, "/x"), "rate_limit").limiter
    assert await codes(svc, 2) == [200, 200]
    svc.recompile({"GET /x": Policy(rate_limit=TWO, timeout=3.0)})
    assert check(endpoint(svc, "/x"), "rate_limit").limiter is before
    assert endpoint(svc, "/x").chain.policy.timeout == 3.0
    assert await codes(svc, 1) == [429]


async def test_changed_sub_policy_gets_a_fresh_limiter(mock_clock: MockClock) -> None:
    """Recompiling with a different rate limit starts a new, full bucket."""
    svc = service(mock_clock, Policy(rate_limit=TWO))
    assert await codes(svc, 3) == [200, 200, 429]
    svc.recompile({"GET /x": Policy(rate_limit=RateLimitPolicy(rate=1, burst=3))})
    assert await codes(svc, 4) == [200, 200, 200, 429]


async def test_bad_route_key_raises_and_changes_nothing(mock_clock: MockClock) -> None:
    """A key naming no route raises ConfigError; the valid key beside it is not applied either."""
    svc = service(mock_clock, Policy(rate_limit=TWO))
    assert await codes(svc, 2) == [200, 200]
    chain = endpoint(svc, "/x").chain
    with pytest.raises(ConfigError, match="no route matches 'GET /nope'"):
        svc.recompile({"GET /x": Policy(), "GET /nope": Policy(rate_limit=TWO)})
    assert endpoint(svc, "/x").chain is chain
    assert await codes(svc, 1) == [429]  # still the old, empty bucket


async def test_policy_that_cannot_compile_changes_nothing(mock_clock: MockClock) -> None:
    """A Redis-backed limit without ``redis_url`` raises at recompile and no chain is swapped."""
    svc = service(mock_clock)
    chain = endpoint(svc, "/x").chain
    with pytest.raises(ConfigError, match="no redis_url") as info:
        svc.recompile({"GET /x": Policy(rate_limit=RateLimitPolicy(rate=1, backend="redis"))})
    assert info.value.path == '$.routes["GET /x"].rate_limit.backend'
    assert endpoint(svc, "/x").chain is chain
    assert await codes(svc, 3) == [200] * 3
