"""A service for the `seawall run` drain tests: ``GET /slow`` takes 1.5 s to answer."""

from __future__ import annotations

import asyncio

from seawall import Service

service = Service("slow")


@service.get("/slow")
async def slow() -> dict[str, bool]:
    """Answer after 1.5 s, long enough to be in flight when SIGTERM arrives."""
    await asyncio.sleep(1.5)
    return {"ok": True}
