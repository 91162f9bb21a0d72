"""A service whose startup hook takes 1.5 s (and first touches ``$STARTUP_MARKER``), for the
SIGTERM-during-startup test."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from seawall import Service

service = Service("slow-start")


@service.on_startup
async def warm_caches() -> None:
    Path(os.environ["STARTUP_MARKER"]).touch()  # noqa: ASYNC240 - a test marker, once
    await asyncio.sleep(1.5)


@service.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}
