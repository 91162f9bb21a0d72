"""A CPU-bound service for overload experiments: ``GET /work`` burns about 2 ms of CPU.

One worker can therefore serve at most ~500 requests/s. Offer it more than that (the overload
benchmark, ``bench/overload.py``, offers three times its capacity, open loop) and the difference
between a service that queues everything and one that sheds shows: with adaptive shedding on, the
excess is answered at once with 503 ``OVERLOADED`` (with ``Retry-After``) while admitted requests
keep a latency close to the unloaded one, instead of every request waiting in an ever-growing queue
until clients give up.

Serve it from the repo root with ``seawall run examples.overload:service`` and watch
``/metrics`` (``seawall_http_server_rejected_total``) while loading ``/work``.
"""

from __future__ import annotations

import time

from seawall import Policy, QueueDelayPolicy, Service, SheddingPolicy

#: CPU time each request burns, in seconds.
WORK_S = 0.002

service = Service("overload")

#: The default chain (concurrency limit, timeout, metrics) plus adaptive load shedding, armed within
#: milliseconds of an overload's onset by queue-delay admission (CoDel). Target: the handler's own
#: CPU time (2 ms); interval: two targets (bench/overload.py: onset p99 10-15 ms at 3x capacity,
#: 60-200 ms with shedding alone). The price of so short an interval: bursts of a Poisson load at
#: half capacity can look like a standing queue, and 1-1.5 % of the requests are refused there
#: (bench/overload.py's "below capacity" phase; docs/overload.md).
OVERLOAD_POLICY = Policy(
    shedding=SheddingPolicy(),
    queue_delay=QueueDelayPolicy(target=0.002, interval=0.004),
)


def burn(seconds: float = WORK_S) -> None:
    """Busy-loop on the CPU for ``seconds`` (no sleeping, no awaiting: pure CPU-bound work)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@service.get("/work", policy=OVERLOAD_POLICY)
async def work() -> dict[str, bool]:
    """Burn about 2 ms of CPU on the event loop and answer ``{"ok": true}``.

    ``async def`` on purpose: a ``def`` handler would run in the service's thread pool, where CPU
    work only contends for the GIL; on the loop it is the plain CPU-bound case shedding is for.
    """
    burn()
    return {"ok": True}
