"""The service the Prometheus integration tests scrape: one route per status and rejection reason.

Served with ``seawall run tests.integration.prom_app:service --workers 2`` from the repo root.
"""

from __future__ import annotations

import asyncio

from seawall import Policy, RateLimitPolicy, Service, SheddingPolicy
from seawall.errors import CircuitOpen

service = Service("prom-it")


@service.get("/ok")
async def ok() -> dict[str, bool]:
    return {"ok": True}


@service.get("/count")
async def count() -> dict[str, bool]:
    """Only the totals test calls it, so its counter is exactly the requests that test sent."""
    return {"ok": True}


@service.get("/fail")
async def fail() -> dict[str, bool]:
    raise RuntimeError("induced failure")


@service.get("/items/{id}")
async def item(id: int) -> dict[str, int]:
    return {"id": id}


@service.get("/limited", policy=Policy(rate_limit=RateLimitPolicy(rate=1, burst=1)))
async def limited() -> dict[str, bool]:
    return {"ok": True}


@service.get("/shed", policy=Policy(max_conns=1, shedding=SheddingPolicy()))
async def shed() -> dict[str, bool]:
    await asyncio.sleep(0.05)  # holds its one slot: concurrent callers are shed (503 OVERLOADED)
    return {"ok": True}


@service.get("/breaker")
async def breaker() -> dict[str, bool]:
    # What the route answers when an outbound call's breaker is open (the outbound transport
    # raises this inside the handler; counted as CIRCUIT_OPEN by the guard).
    raise CircuitOpen("inventory is failing", retry_after=5, check="breaker:inventory")


@service.get("/deadline", policy=Policy(timeout=0.05))
async def deadline() -> dict[str, bool]:
    await asyncio.sleep(0.5)
    return {"ok": True}


@service.get("/slow")
async def slow() -> dict[str, bool]:
    await asyncio.sleep(0.6)  # over the 0.5 s latency SLO bound
    return {"ok": True}
