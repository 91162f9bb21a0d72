"""Rate limits in the request path: token bucket, per-client keys, window, warm-up, hotspots,
per-client concurrency and pacing, all on a MockClock."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.governance.gov_support import Gate, check, client, endpoint, wait_until

from seawall import (
    ConfigError,
    HotspotPolicy,
    PacingPolicy,
    Policy,
    RateLimitPolicy,
    Service,
    WarmUpPolicy,
    WindowPolicy,
)
from seawall.governance import Call
from seawall.testing import MockClock


def limited(clock: MockClock, policy: Policy, path: str = "/x") -> Service:
    svc = Service("limits", clock=clock)

    @svc.get(path, policy=policy)
    async def handler() -> dict[str, bool]:
        return {"ok": True}

    return svc


async def codes(svc: Service, n: int, path: str = "/x", **kw: str) -> list[int]:
    async with client(svc) as c:
        return [(await c.get(path, headers=kw)).status_code for _ in range(n)]


# -- token bucket -------------------------------------------------------------------------------


async def test_token_bucket_rejects_beyond_burst_with_429(mock_clock: MockClock) -> None:
    """With burst 3 and no time passing, the 4th request is 429 RATE_LIMITED."""
    svc = limited(mock_clock, Policy(rate_limit=RateLimitPolicy(rate=1, burst=3)))
    async with client(svc) as c:
        statuses = [(await c.get("/x")).status_code for _ in range(3)]
        r = await c.get("/x")
    assert statuses == [200, 200, 200]
    assert r.status_code == 429
    assert r.json()["reason"] == "RATE_LIMITED"
    assert r.json()["code"] == 42900


async def test_retry_after_is_the_ceiling_of_the_refill_time(mock_clock: MockClock) -> None:
    """At 0.4 tokens/s an empty bucket needs 2.5 s for a token: Retry-After says 3."""
    svc = limited(mock_clock, Policy(rate_limit=RateLimitPolicy(rate=0.4, burst=1)))
    async with client(svc) as c:
        await c.get("/x")
        r = await c.get("/x")
    assert r.headers["retry-after"] == "3"


async def test_retry_after_is_at_least_one_second(mock_clock: MockClock) -> None:
    """At 100 tokens/s the wait is 10 ms, yet Retry-After is never below 1."""
    svc = limited(mock_clock, Policy(rate_limit=RateLimitPolicy(rate=100, burst=1)))
    async with client(svc) as c:
        await c.get("/x")
        r = await c.get("/x")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"


async def test_bucket_refills_after_clock_jump(mock_clock: MockClock) -> None:
    """After the bucket is emptied, jumping 1/rate seconds admits exactly one more request."""
    svc = limited(mock_clock, Policy(rate_limit=RateLimitPolicy(rate=2, burst=2)))
    assert await codes(svc, 3) == [200, 200, 429]
    mock_clock.jump(0.5)
    assert await codes(svc, 2) == [200, 429]
    mock_clock.jump(1.0)
    assert await codes(svc, 3) == [200, 200, 429]


async def test_burst_defaults_to_one_second_of_rate(mock_clock: MockClock) -> None:
    """Without ``burst``, rate 5/s admits 5 at once."""
    svc = limited(mock_clock, Policy(rate_limit=RateLimitPolicy(rate=5)))
    assert await codes(svc, 6) == [200] * 5 + [429]


async def test_rate_limited_request_never_reaches_the_handler(mock_clock: MockClock) -> None:
    """The handler runs once per admitted request, never for a 429."""
    svc = Service("limits", clock=mock_clock)
    calls = 0

    @svc.get("/x", policy=Policy(rate_limit=RateLimitPolicy(rate=1, burst=2)))
    async def handler() -> dict[str, bool]:
        nonlocal calls
        calls += 1
        return {"ok": True}

    assert await codes(svc, 5) == [200, 200, 429, 429, 429]
    assert calls == 2


# -- per-client keys ----------------------------------------------------------------------------


async def test_header_key_limits_each_client_separately(mock_clock: MockClock) -> None:
    """Keyed by ``x-api-key``: client A is limited while client B still passes."""
    policy = Policy(rate_limit=RateLimitPolicy(rate=1, burst=2, key="header:x-api-key"))
    svc = limited(mock_clock, policy)
    assert await codes(svc, 3, **{"x-api-key": "A"}) == [200, 200, 429]
    assert await codes(svc, 2, **{"x-api-key": "B"}) == [200, 200]
    assert await codes(svc, 1, **{"x-api-key": "A"}) == [429]


async def test_ip_key_limits_each_peer_separately(mock_clock: MockClock) -> None:
    """Keyed by ``ip``: one peer address is limited while another is not."""
    svc = limited(mock_clock, Policy(rate_limit=RateLimitPolicy(rate=1, burst=1, key="ip")))
    async with client(svc, ip="10.0.0.1") as a, client(svc, ip="10.0.0.2") as b:
        assert (await a.get("/x")).status_code == 200
        assert (await a.get("/x")).status_code == 429
        assert (await b.get("/x")).status_code == 200


async def test_global_key_is_shared_by_every_client(mock_clock: MockClock) -> None:
    """The default key ``global`` puts every client in one bucket."""
    svc = limited(mock_clock, Policy(rate_limit=RateLimitPolicy(rate=1, burst=1)))
    async with client(svc, ip="10.0.0.1") as a, client(svc, ip="10.0.0.2") as b:
        assert (await a.get("/x")).status_code == 200
        assert (await b.get("/x")).status_code == 429


# -- window, warm-up, hotspots ------------------------------------------------------------------


async def test_window_limit_rejects_beyond_limit_per_window(mock_clock: MockClock) -> None:
    """``WindowPolicy(limit=3, window=1)``: 3 pass, the 4th is 429 until the window slides past."""
    svc = limited(mock_clock, Policy(window=WindowPolicy(limit=3, window=1.0)))
    assert await codes(svc, 4) == [200, 200, 200, 429]
    mock_clock.jump(0.5)
    assert await codes(svc, 1) == [429]
    mock_clock.jump(0.6)
    assert await codes(svc, 4) == [200, 200, 200, 429]


async def test_window_rejection_has_retry_after(mock_clock: MockClock) -> None:
    """A window rejection is 429 with a Retry-After of at least 1."""
    svc = limited(mock_clock, Policy(window=WindowPolicy(limit=1, window=10.0)))
    async with client(svc) as c:
        await c.get("/x")
        r = await c.get("/x")
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1


async def test_warmup_admits_fewer_at_cold_start(mock_clock: MockClock) -> None:
    """Sentinel's vector (count 10, period 10, factor 3): a cold start admits 3 in a second, not 10."""
    svc = limited(mock_clock, Policy(warmup=WarmUpPolicy(count=10, period=10, cold_factor=3)))
    statuses = await codes(svc, 10)
    assert statuses.count(200) == 3
    assert statuses[:3] == [200, 200, 200]
    assert check(endpoint(svc, "/x"), "warmup").limiter.statistics().rejected == 7


async def test_hotspot_limits_the_hot_value_only(mock_clock: MockClock) -> None:
    """An override of 1/s for item 42 rejects its 2nd request while other items pass freely."""
    policy = Policy(hotspots=(HotspotPolicy(key="path:item_id", rate=100, overrides={"42": 1}),))
    svc = Service("hot", clock=mock_clock)

    @svc.get("/items/{item_id}", policy=policy)
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    async with client(svc) as c:
        hot = [(await c.get("/items/42")).status_code for _ in range(3)]
        cold = [(await c.get(f"/items/{i % 3}")).status_code for i in range(30)]
        r = await c.get("/items/42")
    assert hot == [200, 429, 429]
    assert cold == [200] * 30
    assert r.status_code == 429
    assert "'42'" in r.json()["message"]


async def test_hotspot_value_refills_on_its_own_rate(mock_clock: MockClock) -> None:
    """After one second the hot value gets one more request."""
    policy = Policy(hotspots=(HotspotPolicy(key="query:sku", rate=100, overrides={"hot": 1}),))
    svc = limited(mock_clock, policy)
    async with client(svc) as c:
        assert [(await c.get("/x?sku=hot")).status_code for _ in range(2)] == [200, 429]
        mock_clock.jump(1.0)
        assert [(await c.get("/x?sku=hot")).status_code for _ in range(2)] == [200, 429]


# -- per-client concurrency ---------------------------------------------------------------------


async def test_max_conns_per_client_limits_one_client_not_others(mock_clock: MockClock) -> None:
    """With one request of client A in flight, A's next is 503 while B is admitted."""
    svc = Service("conns", clock=mock_clock)
    gate = Gate()

    @svc.get("/x", policy=Policy(max_conns_per_client=1, client_key="header:x-api-key"))
    async def handler() -> dict[str, bool]:
        await gate.hold()
        return {"ok": True}

    async with client(svc) as c:
        first = asyncio.create_task(c.get("/x", headers={"x-api-key": "A"}))
        await gate.wait_for(1)
        again = await c.get("/x", headers={"x-api-key": "A"})
        other = asyncio.create_task(c.get("/x", headers={"x-api-key": "B"}))
        await gate.wait_for(2)
        gate.release.set()
        assert (await first).status_code == 200
        assert (await other).status_code == 200
        after = await c.get("/x", headers={"x-api-key": "A"})
    assert again.status_code == 503
    assert again.json()["reason"] == "OVERLOADED"
    assert after.status_code == 200  # A's slot was given back


# -- pacing -------------------------------------------------------------------------------------


async def test_pacing_makes_the_second_request_wait_for_its_slot(mock_clock: MockClock) -> None:
    """At 10/s the second request waits 0.1 s of clock time before its handler runs."""
    svc = Service("pace", clock=mock_clock)
    ran: list[float] = []

    @svc.get("/x", policy=Policy(pacing=PacingPolicy(rate=10, max_wait=0.5)))
    async def handler() -> dict[str, bool]:
        ran.append(mock_clock.now())
        return {"ok": True}

    async with client(svc) as c:
        assert (await c.get("/x")).status_code == 200
        second = asyncio.create_task(c.get("/x"))
        pacer = check(endpoint(svc, "/x"), "pacing").limiter
        await wait_until(lambda: pacer.statistics().delayed == 1)
        assert not second.done()
        assert ran == [0.0]
        mock_clock.jump(0.1)
        assert (await second).status_code == 200
    assert ran == [0.0, 0.1]


async def test_pacing_rejects_beyond_max_wait(mock_clock: MockClock) -> None:
    """At 10/s with max_wait 0.25, the 4th request at once (wait 0.3 s) is 429 without waiting."""
    svc = limited(mock_clock, Policy(pacing=PacingPolicy(rate=10, max_wait=0.25)))
    async with client(svc) as c:
        first = await c.get("/x")
        waiting = [asyncio.create_task(c.get("/x")) for _ in range(2)]
        pacer = check(endpoint(svc, "/x"), "pacing").limiter
        await wait_until(lambda: pacer.statistics().delayed == 2)
        over = await c.get("/x")  # answered at once: no clock jump was needed
        mock_clock.jump(0.2)
        rest = [(await t).status_code for t in waiting]
    assert first.status_code == 200
    assert over.status_code == 429
    assert over.json()["reason"] == "RATE_LIMITED"
    assert int(over.headers["retry-after"]) >= 1
    assert rest == [200, 200]


async def test_limit_that_never_admits_is_429_without_retry_after(mock_clock: MockClock) -> None:
    """A warm-up of 0.5/s never admits (retry_after is inf): 429 without Retry-After, not a crash."""
    svc = limited(mock_clock, Policy(warmup=WarmUpPolicy(count=0.5, period=10)))
    async with client(svc) as c:
        r = await c.get("/x")
    assert r.status_code == 429
    assert "retry-after" not in r.headers
    assert check(endpoint(svc, "/x"), "concurrency").limit.in_flight == 0


async def test_key_function_separates_clients() -> None:
    """A registered key function (``key="fn:tenant"``) gives each tenant its own bucket."""
    service = Service("fn-key")

    @service.key_function("tenant")
    def tenant(call: Call) -> str:
        return call.header("x-tenant") or ""

    @service.get("/t", policy=Policy(rate_limit=RateLimitPolicy(rate=1, burst=1, key="fn:tenant")))
    async def t() -> dict[str, bool]:
        return {"ok": True}

    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        codes = [(await client.get("/t", headers={"x-tenant": name})).status_code for name in "aab"]
    assert codes == [200, 429, 200]


def test_unknown_key_function_fails_at_compile() -> None:
    """A policy naming an unregistered key function is refused when the route is added."""
    service = Service("fn-missing")
    with pytest.raises(ConfigError, match="no key function named 'nope'") as info:

        @service.get("/t", policy=Policy(rate_limit=RateLimitPolicy(rate=1, key="fn:nope")))
        async def t() -> dict[str, bool]:
            return {"ok": True}

    assert info.value.path == '$.routes["GET /t"].rate_limit.key'


async def test_hotspot_keys_on_the_converted_value_and_invalid_values_spend_nothing() -> None:
    """``/items/1`` is limited however spelled; non-canonical or invalid ids are 400, spending nothing."""
    svc = Service("hot-canonical")

    @svc.get(
        "/items/{item_id}", policy=Policy(hotspots=(HotspotPolicy(key="path:item_id", rate=1, burst=1),))
    )
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    async with client(svc) as c:
        codes = [(await c.get(f"/items/{raw}")).status_code for raw in ("abc", "1.0", "1e0", "01", "1", "2")]
        again = await c.get("/items/1")
    assert codes == [400, 400, 400, 400, 200, 200]
    assert again.status_code == 429
    stats = check(endpoint(svc, "/items/{item_id}"), "hotspot:path:item_id").limiter.statistics()
    assert (stats.admitted, stats.rejected) == (2, 1)
