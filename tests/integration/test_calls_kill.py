"""Killing one of three instances mid-load: the calls in flight there are retried elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.client.procs import seawall_run, upstream, write_config
from tests.servers import free_port

pytestmark = pytest.mark.integration

APPS = "tests.client.call_apps"


async def load(
    url: str, seconds: float, concurrency: int, kill_at: float, kill: Callable[[], None]
) -> tuple[int, int, int]:
    """Drive ``url`` for ``seconds``; call ``kill()`` at ``kill_at``. Returns (calls, failures, in
    flight at the kill)."""
    calls = failures = in_flight = 0
    at_kill = -1
    end = time.monotonic() + seconds
    kill_time = time.monotonic() + kill_at
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def worker() -> None:
            nonlocal calls, failures, in_flight
            while time.monotonic() < end:
                in_flight += 1
                try:
                    r = await client.get(url)
                    ok = r.status_code == 200 and r.json() == {"ok": True}
                except httpx.HTTPError:
                    ok = False
                finally:
                    in_flight -= 1
                calls += 1
                failures += not ok

        async def killer() -> None:
            nonlocal at_kill
            await asyncio.sleep(max(0.0, kill_time - time.monotonic()))
            at_kill = in_flight
            await asyncio.to_thread(kill)

        await asyncio.gather(killer(), *(worker() for _ in range(concurrency)))
    return calls, failures, at_kill


def test_killing_an_instance_fails_no_more_than_the_calls_in_flight(tmp_path: Path) -> None:
    """Three back instances, steady load through front; one instance is SIGKILLed after 1 s. Calls
    that were in flight on it are retried on the others (GETs are idempotent, refused connections
    are safe to retry): failures never exceed the calls in flight at the kill (in practice: none)."""
    ports = [free_port() for _ in range(3)]
    pf = free_port()
    config = write_config(tmp_path, "front", {"back": upstream(*ports)})
    with contextlib.ExitStack() as stack:
        backs = [stack.enter_context(seawall_run(f"{APPS}:back", p)) for p in ports]
        front = stack.enter_context(seawall_run(f"{APPS}:front", pf, config))
        calls, failures, at_kill = asyncio.run(
            load(f"{front.url}/call?delay=5", seconds=3.0, concurrency=8, kill_at=1.0, kill=backs[0].kill)
        )
        survivors = sum(httpx.get(f"{b.url}/hits", timeout=5).json()["hits"] for b in backs[1:])
    assert calls > 100
    assert at_kill >= 0
    assert failures <= at_kill
    assert survivors > 0
