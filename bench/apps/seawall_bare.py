"""seawall with a BARE route: router + typed handler + JSON encoding, no checks, no metrics."""

from __future__ import annotations

from seawall import BARE, Service

service = Service("bench-bare")


@service.get("/hello", policy=BARE)
async def hello() -> dict[str, str]:
    return {"message": "hello"}
