"""``examples/overload.py``'s CPU-bound handler with two traffic classes.

A request carrying ``x-priority: critical`` is in class ``critical``, every other one is
``normal``. On this route the classes order ``queue_delay``'s adaptive LIFO: while the event
loop is overloaded, a critical request yields only to newer critical requests, so critical
traffic is served first and normal traffic takes the rest of the capacity.
"""

from __future__ import annotations

from examples.overload import OVERLOAD_POLICY, burn

from seawall import Service
from seawall.governance import PriorityPolicy

service = Service("overload-priority-cpu")

POLICY = OVERLOAD_POLICY.replace(
    priority=PriorityPolicy(
        shares={"critical": 0.9, "normal": 0.1}, default="normal", key="header:x-priority"
    )
)


@service.get("/work", policy=POLICY)
async def work() -> dict[str, bool]:
    burn()
    return {"ok": True}
