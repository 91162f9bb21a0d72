"""``examples/overload.py``'s CPU-bound handler with two traffic classes.

A request carrying ``x-priority: critical`` is in class ``critical``, every other one is
``normal``. On this route the classes order ``queue_delay``'s adaptive LIFO: while the event
loop is overloaded, a critical request yields only to newer critical requests, so critical
traffic is served first and normal traffic takes the rest of the capacity.
"""

from __future__ import annotations

from examples.overload import OVERLOAD_POLICY, burn

from bench.apps.seawall_overload_priority import CLASSES
from seawall import Service

service = Service("overload-priority-cpu")


@service.get("/work", policy=OVERLOAD_POLICY.replace(priority=CLASSES))
async def work() -> dict[str, bool]:
    burn()
    return {"ok": True}
