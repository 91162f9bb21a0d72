"""A service with every built-in check enabled: what ``docs/metrics.md`` is checked against.

Each governance kind appears once: global and per-client (keyed) variants of the limiters,
Redis-backed limits (the Redis server is unreachable on purpose: the limiter runs on its local
fallback and still reports its statistics), hotspots, bulkhead, pacing, concurrency limits and
adaptive shedding.
"""

from __future__ import annotations

from seawall import Policy, Service
from seawall.governance import (
    AdaptiveConcurrencyPolicy,
    BreakerPolicy,
    BulkheadPolicy,
    HotspotPolicy,
    PacingPolicy,
    PriorityPolicy,
    QueueDelayPolicy,
    RateLimitPolicy,
    SheddingPolicy,
    WarmUpPolicy,
    WindowPolicy,
)
from seawall.load import FixedCpuProbe

#: Nothing listens on port 1: Redis calls fail at once and the local fallback decides.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"

POLICIES = {
    "/global": Policy(
        rate_limit=RateLimitPolicy(rate=1000),
        window=WindowPolicy(limit=1000),
        warmup=WarmUpPolicy(count=1000),
        max_conns=100,
        bulkhead=BulkheadPolicy(max_concurrent=10),
        pacing=PacingPolicy(rate=1000),
        shedding=SheddingPolicy(),
    ),
    "/keyed": Policy(
        rate_limit=RateLimitPolicy(rate=1000, key="ip"),
        window=WindowPolicy(limit=1000, key="ip"),
        max_conns_per_client=10,
        hotspots=(HotspotPolicy(key="query:id", rate=100),),
    ),
    "/limited": Policy(rate_limit=RateLimitPolicy(rate=1, burst=1)),
    "/adaptive": Policy(
        adaptive_concurrency=AdaptiveConcurrencyPolicy(),
        queue_delay=QueueDelayPolicy(),
        breaker=BreakerPolicy(kind="adaptive"),
    ),
    "/classes": Policy(
        adaptive_concurrency=AdaptiveConcurrencyPolicy(algorithm="gradient2"),
        priority=PriorityPolicy(shares={"critical": 0.5, "normal": 0.5}, default="normal"),
        breaker=BreakerPolicy(kind="circuit"),
    ),
    "/shared": Policy(
        rate_limit=RateLimitPolicy(rate=1000, backend="redis"),
        window=WindowPolicy(limit=1000, backend="redis"),
    ),
    "/leased": Policy(rate_limit=RateLimitPolicy(rate=1000, backend="redis", lease=True)),
}


def every_check_service() -> Service:
    """The service, one route per policy above."""
    svc = Service("catalog", cpu_probe=FixedCpuProbe(0), redis_url=UNREACHABLE_REDIS)
    for path, policy in POLICIES.items():

        async def handler() -> dict[str, bool]:
            return {"ok": True}

        svc.get(path, policy=policy)(handler)
    # An outbound call (to a port nothing listens on), so the seawall_http_client_* families have series.
    backend = svc.client("backend", instances=["127.0.0.1:1"])

    @svc.get("/calls")
    async def calls() -> dict[str, bool]:
        try:
            await backend.get("/x")
        except Exception:
            return {"ok": False}
        return {"ok": True}

    return svc
