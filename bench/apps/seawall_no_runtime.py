"""seawall's default chain (as examples.hello) with the runtime monitor stopped after startup: no
GC callback, no event-loop lag sampler. The default row divided by this one is what runtime
metrics cost."""

from __future__ import annotations

from seawall import Service

service = Service("bench-no-runtime")


@service.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}


@service.on_startup
async def _runtime_off() -> None:
    await service.runtime.stop()
