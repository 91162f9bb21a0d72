"""Served by ``tests/observe/test_run_observe.py`` with ``seawall run``: a route that burns CPU in
a named function, one that fails, one that is slow."""

from __future__ import annotations

import asyncio
import time

from seawall import Service

service = Service("observe-it")


def seawall_it_burns_cpu_here(seconds: float) -> int:
    """Spin for ``seconds``: the function the CLI's profile must name."""
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    return n


@service.get("/burn")
async def burn() -> dict[str, int]:
    return {"n": seawall_it_burns_cpu_here(0.01)}


@service.get("/fail")
async def fail() -> dict[str, bool]:
    raise RuntimeError("failed with api_key=sk-live-123456 in the message")


@service.get("/slow")
async def slow() -> dict[str, bool]:
    await asyncio.sleep(0.15)
    return {"ok": True}
