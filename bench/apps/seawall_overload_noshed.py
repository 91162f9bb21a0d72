"""seawall with the overload benchmark's 2 ms handler and the default chain only (no shedding).

The same handler as ``examples/overload.py``: only the policy differs, so the benchmark isolates
what adaptive shedding does under overload.
"""

from __future__ import annotations

import time

from seawall import DEFAULT_POLICY, Service

service = Service("overload-noshed")


def burn(seconds: float = 0.002) -> None:
    """Busy-loop on the CPU for ``seconds`` (a copy of ``examples.overload.burn``)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@service.get("/work", policy=DEFAULT_POLICY)
async def work() -> dict[str, bool]:
    burn()
    return {"ok": True}
