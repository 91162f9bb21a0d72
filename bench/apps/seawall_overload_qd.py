"""``examples/overload.py`` with queue-delay admission added to its policy (adaptive shedding +
``queue_delay``): the same 2 ms CPU-bound handler, so the benchmark shows what the queue-delay
signal adds at the onset of an overload, before the CPU signal crosses its threshold."""

from __future__ import annotations

from examples.overload import OVERLOAD_POLICY, burn

from seawall import Service
from seawall.governance import QueueDelayPolicy

service = Service("overload-qd")

#: Target near the handler's CPU time (2 ms); interval three targets (see QueueDelayPolicy).
POLICY = OVERLOAD_POLICY.replace(queue_delay=QueueDelayPolicy(target=0.002, interval=0.006))


@service.get("/work", policy=POLICY)
async def work() -> dict[str, bool]:
    burn()
    return {"ok": True}
