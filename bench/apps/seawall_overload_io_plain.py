"""``examples/overload_io.py``'s handler with the default chain only (no adaptive concurrency).

Under overload its requests queue in front of the resource like FastAPI's; the difference it
shows is the departure watch: a request whose client gave up (closed the connection at its
deadline) stops waiting for the resource, so the queue drains instead of serving nobody.
"""

from __future__ import annotations

from examples.overload_io import use_resource

from seawall import DEFAULT_POLICY, Service

service = Service("overload-io-plain")


@service.get("/work", policy=DEFAULT_POLICY)
async def work() -> dict[str, bool]:
    await use_resource()
    return {"ok": True}
