"""seawall with the full chain: token bucket + concurrency limit + adaptive shedding + timeout + metrics.

Every check runs on every request, but none may reject: the benchmark measures what the checks cost,
as the FastAPI stack's slowapi limit is set too high to trigger. For the rate and concurrency limits
that is a high limit. The shedder cannot be set so: it counts a saturated CPU as overload at any
threshold, and a throughput benchmark saturates the CPU by design (with the real CPU probe it sheds
most requests of this closed-loop run). So it gets a fixed CPU reading of 0 through the ``cpu_probe``
seam: it still admits, counts in-flight requests and records pass/RT statistics per request. Shedding
behaviour under overload is what ``bench/overload.py`` measures.
"""

from __future__ import annotations

from seawall import Policy, RateLimitPolicy, Service, SheddingPolicy
from seawall.load import FixedCpuProbe

service = Service("bench-full", cpu_probe=FixedCpuProbe(0))

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
