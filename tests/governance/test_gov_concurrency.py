"""Bulkhead and adaptive shedding in the request path, the order of the compiled chain, and
rejection before the body is read."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from tests.governance.gov_support import (
    Gate,
    check,
    client,
    endpoint,
    shedder_stats,
    shedder_thresholds,
    wait_until,
)

from seawall import (
    BulkheadPolicy,
    HotspotPolicy,
    PacingPolicy,
    Policy,
    RateLimitPolicy,
    Service,
    SheddingPolicy,
    WarmUpPolicy,
    WindowPolicy,
)
from seawall.load import FixedCpuProbe
from seawall.testing import MockClock


def gated(clock: MockClock, policy: Policy, cpu: int = 0) -> tuple[Service, Gate]:
    svc = Service("conc", clock=clock, cpu_probe=FixedCpuProbe(cpu))
    gate = Gate()

    @svc.get("/work", policy=policy)
    async def work() -> dict[str, bool]:
        await gate.hold()
        return {"ok": True}

    return svc, gate


# -- bulkhead -----------------------------------------------------------------------------------


async def test_bulkhead_queues_the_second_and_rejects_the_third(mock_clock: MockClock) -> None:
    """max_concurrent=1, max_queue=1: the 2nd waits and runs after the 1st; the 3rd is 503 at once."""
    policy = Policy(bulkhead=BulkheadPolicy(max_concurrent=1, max_queue=1, max_wait=5.0))
    svc, gate = gated(mock_clock, policy)
    bulkhead = check(endpoint(svc, "/work"), "bulkhead").bulkhead
    async with client(svc) as c:
        first = asyncio.create_task(c.get("/work"))
        await gate.wait_for(1)
        second = asyncio.create_task(c.get("/work"))
        await wait_until(lambda: bulkhead.statistics().queued == 1)
        third = await c.get("/work")
        assert gate.entered == 1  # the second is still waiting
        gate.release.set()
        assert (await first).status_code == 200
        assert (await second).status_code == 200
    assert third.status_code == 503
    assert third.json()["reason"] == "OVERLOADED"
    assert third.headers["retry-after"] == "5"
    assert gate.entered == 2
    stats = bulkhead.statistics()
    assert (stats.running, stats.queued, stats.admitted, stats.rejected) == (0, 0, 2, 1)


async def test_bulkhead_wait_runs_out_with_503(autojump_clock: MockClock) -> None:
    """A queued request still waiting after max_wait is answered 503 and counted as timed out."""
    policy = Policy(bulkhead=BulkheadPolicy(max_concurrent=1, max_queue=1, max_wait=2.0))
    svc, gate = gated(autojump_clock, policy)
    bulkhead = check(endpoint(svc, "/work"), "bulkhead").bulkhead
    async with client(svc) as c:
        first = asyncio.create_task(c.get("/work"))
        await gate.wait_for(1)
        late = await c.get("/work")  # the clock jumps to the end of its wait
        assert autojump_clock.now() == 2.0
        gate.release.set()
        await first
    assert late.status_code == 503
    assert bulkhead.statistics().timed_out == 1
    assert gate.entered == 1


# -- shedding -----------------------------------------------------------------------------------


async def hold_requests(c: httpx.AsyncClient, gate: Gate, n: int) -> list[asyncio.Task[httpx.Response]]:
    tasks = [asyncio.create_task(c.get("/work")) for _ in range(n)]
    await gate.wait_for(n)
    return tasks


async def test_overloaded_cpu_with_enough_in_flight_sheds_503(mock_clock: MockClock) -> None:
    """CPU at 1000 and more in flight than max_flight: the next request is 503 OVERLOADED with Retry-After."""
    svc, gate = gated(mock_clock, Policy(shedding=SheddingPolicy(cpu_threshold=900)), cpu=1000)
    shedder = check(endpoint(svc, "/work"), "shedding").shedder
    limit = int(shedder.statistics().max_flight)  # the most admitted while overloaded (running=1)
    async with client(svc) as c:
        held = await hold_requests(c, gate, limit)
        r = await c.get("/work")
        gate.release.set()
        done = [(await t).status_code for t in held]
    assert r.status_code == 503
    assert r.json()["reason"] == "OVERLOADED"
    assert r.headers["retry-after"] == "1"
    assert done == [200] * limit
    assert gate.entered == limit  # the shed request never ran
    assert shedder.statistics().dropped == 1


async def test_idle_cpu_never_sheds(mock_clock: MockClock) -> None:
    """CPU at 0: however many requests are in flight, none is shed."""
    svc, gate = gated(mock_clock, Policy(shedding=SheddingPolicy()), cpu=0)
    async with client(svc) as c:
        held = await hold_requests(c, gate, 40)
        gate.release.set()
        done = [(await t).status_code for t in held]
    assert done == [200] * 40
    assert shedder_stats(svc).dropped == 0


async def test_priority_route_uses_the_higher_threshold(mock_clock: MockClock) -> None:
    """CPU at 920 (threshold 900, priority 950): the normal route sheds, the priority route does not."""
    svc = Service("prio", clock=mock_clock, cpu_probe=FixedCpuProbe(920))
    gate = Gate()

    @svc.get("/work", policy=Policy(shedding=SheddingPolicy(cpu_threshold=900)))
    async def work() -> dict[str, bool]:
        await gate.hold()
        return {"ok": True}

    @svc.get("/vip", policy=Policy(shedding=SheddingPolicy(cpu_threshold=900, priority=True)))
    async def vip() -> dict[str, bool]:
        return {"ok": True}

    shedder = check(endpoint(svc, "/work"), "shedding").shedder
    assert shedder.priority_threshold == 950
    async with client(svc) as c:
        held = await hold_requests(c, gate, int(shedder.statistics().max_flight))  # the most admitted
        normal = await c.get("/work")
        priority = await c.get("/vip")
        gate.release.set()
        await asyncio.gather(*held)
    assert normal.status_code == 503
    assert priority.status_code == 200


async def test_routes_with_one_threshold_share_one_shedder(mock_clock: MockClock) -> None:
    """Two routes with the same CPU threshold feed one shedder (one picture of the process)."""
    svc = Service("share", clock=mock_clock, cpu_probe=FixedCpuProbe(0))
    svc.get("/a", policy=Policy(shedding=SheddingPolicy(cpu_threshold=800)))(lambda: None)
    svc.get("/b", policy=Policy(shedding=SheddingPolicy(cpu_threshold=800)))(lambda: None)
    a, b = check(endpoint(svc, "/a"), "shedding"), check(endpoint(svc, "/b"), "shedding")
    assert a.shedder is b.shedder
    assert shedder_thresholds(svc) == [800]


# -- the compiled chain -------------------------------------------------------------------------


def test_chain_runs_checks_cheapest_first(mock_clock: MockClock) -> None:
    """Every built-in check compiles into the chain, cheapest first (waiting checks last)."""
    policy = Policy(
        max_conns_per_client=5,
        rate_limit=RateLimitPolicy(rate=10),
        window=WindowPolicy(limit=10),
        warmup=WarmUpPolicy(count=10),
        hotspots=(HotspotPolicy(key="query:sku", rate=10),),
        shedding=SheddingPolicy(),
        pacing=PacingPolicy(rate=10),
        bulkhead=BulkheadPolicy(max_concurrent=2),
    )
    svc = Service("chain", clock=mock_clock, cpu_probe=FixedCpuProbe(0))
    svc.get("/x", policy=policy)(lambda: None)
    chain = endpoint(svc, "/x").chain
    assert chain.names == [
        "loop_detection",
        "concurrency",
        "client_concurrency",
        "rate_limit",
        "window",
        "warmup",
        "hotspot:query:sku",
        "shedding",
        "pacing",
        "bulkhead",
    ]
    costs = [c.cost for c in (*chain.checks, *chain.async_checks)]
    assert costs == sorted(costs)


def test_default_policy_chain_is_the_concurrency_limit_only() -> None:
    """A route under the default policy compiles to one check: the concurrency limit."""
    svc = Service("chain")
    svc.get("/x")(lambda: None)
    assert endpoint(svc, "/x").chain.names == ["loop_detection", "concurrency"]


async def test_rejected_request_never_reads_the_body(mock_clock: MockClock) -> None:
    """A POST refused by its rate limit is answered 429 without ``receive`` being called."""
    svc = Service("body", clock=mock_clock)
    bodies: list[dict[str, int]] = []

    @svc.post("/upload", policy=Policy(rate_limit=RateLimitPolicy(rate=1, burst=1)))
    async def upload(data: dict[str, int]) -> dict[str, int]:
        bodies.append(data)
        return data

    async def call() -> tuple[int, int]:
        reads = 0

        async def receive() -> dict[str, Any]:
            nonlocal reads
            reads += 1
            return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/upload", "headers": [], "query_string": b""}
        await svc(scope, receive, send)
        return sent[0]["status"], reads

    assert await call() == (200, 1)
    assert await call() == (429, 0)
    assert bodies == [{"a": 1}]


async def test_shedding_without_a_probe_starts_and_stops_the_process_probe() -> None:
    """With no probe given, the first shedding route builds this process's CPU probe; it samples
    while the service runs and stops with it (a registry resource, not a leaked thread)."""
    from seawall.load import ProcessCpuProbe

    svc = Service("own-probe")
    svc.get("/x", policy=Policy(shedding=SheddingPolicy()))(lambda: None)
    probe = svc.governor.registry.get(("cpu_probe",))
    assert isinstance(probe, ProcessCpuProbe)
    assert not probe.running
    await svc.startup()
    try:
        assert probe.running
    finally:
        await svc.shutdown()
    assert not probe.running


async def test_an_injected_process_probe_is_started_with_the_service() -> None:
    """A ProcessCpuProbe given to the service is started and stopped by it too."""
    from seawall.load import ProcessCpuProbe

    probe = ProcessCpuProbe(interval=0.05)
    svc = Service("given-probe", cpu_probe=probe)
    svc.get("/x", policy=Policy(shedding=SheddingPolicy()))(lambda: None)
    await svc.startup()
    try:
        assert probe.running
    finally:
        await svc.shutdown()
    assert not probe.running
