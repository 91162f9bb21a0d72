"""``examples/overload.py`` with queue-delay admission added to its policy (adaptive shedding +
``queue_delay``): the same 2 ms CPU-bound handler, so the benchmark shows what the queue-delay
signal adds at the onset of an overload, before the CPU signal crosses its threshold."""

from __future__ import annotations

import os

from examples.overload import OVERLOAD_POLICY, burn

from seawall import Service
from seawall.governance import QueueDelayPolicy

service = Service("overload-qd")

#: Target the handler's CPU time (2 ms), interval two targets: the fastest onset of the settings
#: tried (onset p99 9.6 ms; 1.5/4.5 ms: 10.8, 2/6 ms: 12.0; bench/overload.py --quick, load ~1);
#: see QueueDelayPolicy for what a shorter interval costs below capacity.
#: ``SEAWALL_BENCH_QUEUE_DELAY=target,interval`` overrides them, for tuning runs.
_TUNED = os.environ.get("SEAWALL_BENCH_QUEUE_DELAY")
_TARGET, _INTERVAL = (float(v) for v in _TUNED.split(",")) if _TUNED else (0.002, 0.004)
POLICY = OVERLOAD_POLICY.replace(queue_delay=QueueDelayPolicy(target=_TARGET, interval=_INTERVAL))


@service.get("/work", policy=POLICY)
async def work() -> dict[str, bool]:
    burn()
    return {"ok": True}
