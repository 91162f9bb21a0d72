"""``seawall_full`` with queue-delay admission switched on: the hot-path cost of the check that
yields once per request to measure the event loop's delay (the overload issue's floor: >= 0.75x raw).

The gate never rejects here (a closed-loop throughput run keeps the loop's queue short enough
for the default 5 ms target): the benchmark measures what measuring costs.
"""

from __future__ import annotations

from bench.apps.seawall_full import FULL
from seawall import Service
from seawall.governance import QueueDelayPolicy
from seawall.load import FixedCpuProbe

service = Service("bench-full-qd", cpu_probe=FixedCpuProbe(0))


@service.get("/hello", policy=FULL.replace(queue_delay=QueueDelayPolicy()))
async def hello() -> dict[str, str]:
    return {"message": "hello"}
