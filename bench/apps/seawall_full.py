"""seawall with the full chain: token bucket + concurrency limit + adaptive shedding + timeout + metrics.

The rate limit and the concurrency limit are set high enough never to trigger: the benchmark
measures what the checks cost. Shedding keeps its defaults (it is what a user would switch on); if it
drops requests while the server is saturated, the run shows them as errors.
"""

from __future__ import annotations

from seawall import Policy, RateLimitPolicy, Service, SheddingPolicy

service = Service("bench-full")

FULL = Policy(
    rate_limit=RateLimitPolicy(rate=10_000_000, burst=10_000_000),
    max_conns=10_000,
    shedding=SheddingPolicy(),
    timeout=5.0,
    metrics=True,
)


@service.get("/hello", policy=FULL)
async def hello() -> dict[str, str]:
    return {"message": "hello"}
