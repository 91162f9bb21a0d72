"""seawall with the full chain: token bucket + concurrency limit + adaptive shedding + timeout + metrics.

Limits are set high enough never to trigger: the benchmark measures what the checks cost.
"""

from __future__ import annotations

from seawall import Policy, RateLimitPolicy, Service

service = Service("bench-full")

FULL = Policy(
    rate_limit=RateLimitPolicy(rate=10_000_000, burst=10_000_000),
    max_conns=10_000,
    shedding=True,
    timeout=5.0,
)


@service.get("/hello", policy=FULL)
async def hello() -> dict[str, str]:
    return {"message": "hello"}
