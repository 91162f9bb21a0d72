"""A service for the SIGTERM tests: ``GET /child`` waits on a subprocess (``sleep 2``)."""

from __future__ import annotations

import asyncio

from seawall import Service

service = Service("child")


@service.get("/child")
async def child() -> dict[str, int]:
    """Run ``sleep 2`` and answer with its exit code (0, unless something signalled it)."""
    process = await asyncio.create_subprocess_exec("sleep", "2")
    return {"returncode": await process.wait()}
