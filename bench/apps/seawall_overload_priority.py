"""``examples/overload_io.py``'s handler with two traffic classes sharing its adaptive limit.

A request carrying ``x-priority: critical`` is in class ``critical``, guaranteed 90 % of the
route's adaptive concurrency limit; every other request is ``normal`` (10 %). Either may borrow
what the other leaves unused (Netflix partitioned-limiter semantics), so under overload the
critical traffic keeps its share while normal traffic takes the rest.
"""

from __future__ import annotations

from examples.overload_io import OVERLOAD_IO_POLICY, use_resource

from seawall import Service
from seawall.governance import PriorityPolicy

service = Service("overload-priority")

#: The traffic classes of both priority scenarios (this one and ``seawall_overload_priority_cpu``).
CLASSES = PriorityPolicy(shares={"critical": 0.9, "normal": 0.1}, default="normal", key="header:x-priority")

POLICY = OVERLOAD_IO_POLICY.replace(priority=CLASSES)


@service.get("/work", policy=POLICY)
async def work() -> dict[str, bool]:
    await use_resource()
    return {"ok": True}
