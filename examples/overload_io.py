"""A service bound by something other than its CPU: ``GET /work`` waits for a shared resource.

The resource stands in for a connection pool, a slow dependency or a database: it allows 8
concurrent users and each holds it for 20 ms, so the route can serve at most ~400 requests/s
while the CPU stays mostly idle. Offered more than that, requests queue in front of the resource
(here: an ``asyncio.Semaphore``); CPU-based shedding never starts (the CPU is not busy), so
without another signal every request waits until its client has given up, the collapse
``bench/overload.py`` shows for FastAPI with the same handler.

The protection seawall recommends for such a service, switched on here:

- ``adaptive_concurrency`` (the default :class:`~seawall.governance.AdaptiveConcurrencyPolicy`:
  Vegas, initial limit 10, smoothing 0.5): the route's in-flight limit follows the latency it
  sees against its no-load latency, so it settles a few requests above the resource's width
  (8) without anyone configuring it, and the excess is answered at once with 503 ``OVERLOADED``
  (``Retry-After: 1``). A fixed ``max_conns`` would need to know the width, and be wrong as soon
  as the dependency slows down or speeds up.
- No ``queue_delay`` and no ``shedding``: the queue forms inside the handler (waiting for the
  resource), not in the event loop, so the loop's delay stays near zero and the CPU idle; those
  checks are for CPU-bound routes (``examples/overload.py``).

Everything else is the default chain (concurrency limit 10,000, 10 s timeout, metrics).

Serve it from the repo root with ``seawall run examples.overload_io:service`` and watch
``seawall_concurrency_limiter_limit`` in ``/metrics`` while loading ``/work``.
"""

from __future__ import annotations

import asyncio

from seawall import Policy, Service
from seawall.governance import AdaptiveConcurrencyPolicy

#: Concurrent users the shared resource allows.
WIDTH = 8
#: Seconds each user holds it.
HOLD_S = 0.020

service = Service("overload-io")

#: The default chain plus an adaptive concurrency limit (see the module docstring).
OVERLOAD_IO_POLICY = Policy(adaptive_concurrency=AdaptiveConcurrencyPolicy())

_resource: asyncio.Semaphore | None = None


def resource() -> asyncio.Semaphore:
    """The shared resource (made on first use, inside the serving event loop)."""
    global _resource  # one per process, like a connection pool
    if _resource is None:
        _resource = asyncio.Semaphore(WIDTH)
    return _resource


async def use_resource(seconds: float = HOLD_S) -> None:
    """Wait for one of the resource's ``WIDTH`` slots, then hold it for ``seconds``."""
    async with resource():
        await asyncio.sleep(seconds)


@service.get("/work", policy=OVERLOAD_IO_POLICY)
async def work() -> dict[str, bool]:
    """Use the shared resource for 20 ms and answer ``{"ok": true}``."""
    await use_resource()
    return {"ok": True}
