"""FastAPI peer for the non-CPU overload benchmark: the same handler as ``examples/overload_io.py``
(wait for an 8-wide shared resource, hold it 20 ms), no governance.

The handler is copied rather than imported so that this process never imports seawall.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

WIDTH = 8
HOLD_S = 0.020

app = FastAPI()
_resource: asyncio.Semaphore | None = None


async def use_resource(seconds: float = HOLD_S) -> None:
    """A copy of ``examples.overload_io.use_resource``."""
    global _resource
    if _resource is None:
        _resource = asyncio.Semaphore(WIDTH)
    async with _resource:
        await asyncio.sleep(seconds)


@app.get("/work")
async def work() -> dict[str, bool]:
    await use_resource()
    return {"ok": True}
