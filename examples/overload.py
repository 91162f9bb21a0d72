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

#: The default chain (concurrency limit, timeout, metrics) plus queue-delay admission (CoDel, the
#: interval bound and adaptive LIFO: while the loop is overloaded the newest waiter runs and the
#: older ones are answered 503 at once) and adaptive load shedding, armed by it. Target: the
#: handler's own CPU time (2 ms); interval: two targets. bench/overload.py at 3x capacity: admitted
#: p99 1.2-2x the unloaded p99 from the first second on, goodput ~1.1x capacity. The price: bursts
#: of a Poisson load at half capacity that queue over the target are refused too, 1.6-2.5 % of
#: the requests there (the bench's "below capacity" phase; docs/overload.md).
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
