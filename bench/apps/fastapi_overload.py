"""FastAPI peer for the overload benchmark: the same 2 ms CPU-bound handler, no governance.

The handler is ``async def`` so that FastAPI runs it on the event loop like seawall does (a plain
``def`` would go to FastAPI's thread pool, a different execution model).
"""

from __future__ import annotations

import time

from fastapi import FastAPI

app = FastAPI()


def burn(seconds: float = 0.002) -> None:
    """Busy-loop on the CPU for ``seconds`` (a copy of ``examples.overload.burn``)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@app.get("/work")
async def work() -> dict[str, bool]:
    burn()
    return {"ok": True}
