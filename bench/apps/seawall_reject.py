"""``GET /hello`` on the default chain (200, the readiness probe) and ``GET /reject``, whose
``queue_delay`` bound is so tight (2 ns) that every request is answered 503 OVERLOADED after its
loop turn: the whole path of a queue-delay rejection, measured by ``bench/reject_cost.py``."""

from __future__ import annotations

from seawall import Policy, QueueDelayPolicy, Service

service = Service("bench-reject")

#: Every wait is longer than the interval, so every request is shed by the interval bound, after
#: the same admission, loop turn and decision as a request shed under overload.
REJECT_ALL = Policy(queue_delay=QueueDelayPolicy(target=1e-9, interval=2e-9))


@service.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}


@service.get("/reject", policy=REJECT_ALL)
async def reject() -> dict[str, str]:
    return {"message": "never"}
