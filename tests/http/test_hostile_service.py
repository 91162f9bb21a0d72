"""Careless handlers and odd requests: blocking sync handlers, slow fallbacks, unmatched paths."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from prometheus_client import generate_latest
from tests.governance.gov_support import client, labels, samples

from seawall import Policy, RateLimitPolicy, Service
from seawall.errors import Rejected
from seawall.governance import FALLBACK_GRACE
from seawall.testing import MockClock

REQUESTS = "seawall_http_server_requests_total"


async def test_blocking_sync_handler_does_not_stall_the_loop(mock_clock: MockClock) -> None:
    """A ``def`` handler blocked in ``time.sleep``-like work runs in a thread: others are served meanwhile."""
    svc = Service("sync", clock=mock_clock)
    release = threading.Event()
    entered = threading.Event()

    @svc.get("/blocking")
    def blocking() -> dict[str, bool]:
        entered.set()
        release.wait(10)
        return {"ok": True}

    @svc.get("/quick")
    async def quick() -> dict[str, bool]:
        return {"ok": True}

    async with client(svc) as c:
        slow = asyncio.create_task(c.get("/blocking"))
        await asyncio.to_thread(entered.wait, 10)
        assert (await c.get("/quick")).status_code == 200  # the loop is free
        release.set()
        assert (await slow).status_code == 200


async def test_blocking_sync_handler_still_gets_its_504_on_time(mock_clock: MockClock) -> None:
    """At the deadline the client gets 504 although the thread is still blocked."""
    svc = Service("sync", clock=mock_clock)
    release = threading.Event()
    entered = threading.Event()

    @svc.get("/blocking", policy=Policy(timeout=1.0))
    def blocking() -> dict[str, bool]:
        entered.set()
        release.wait(10)
        return {"ok": True}

    try:
        async with client(svc) as c:
            task = asyncio.create_task(c.get("/blocking"))
            await asyncio.to_thread(entered.wait, 10)
            mock_clock.jump(1.01)
            r = await task
    finally:
        release.set()
    assert (r.status_code, r.json()["reason"]) == (504, "DEADLINE_EXCEEDED")


async def test_slow_fallback_is_cut_off_and_the_rejection_answered(mock_clock: MockClock) -> None:
    """A fallback slower than its bound (remaining deadline, >= FALLBACK_GRACE) does not hold the answer."""
    svc = Service("fb", clock=mock_clock)
    started = asyncio.Event()

    async def stuck_fallback(request: Any, rejection: Rejected) -> dict[str, str]:
        started.set()
        await asyncio.Event().wait()
        return {"never": "answered"}

    @svc.get(
        "/x",
        policy=Policy(timeout=None, rate_limit=RateLimitPolicy(rate=1, burst=1)),
        fallback=stuck_fallback,
    )
    async def x() -> dict[str, bool]:
        return {"ok": True}

    async with client(svc) as c:
        assert (await c.get("/x")).status_code == 200
        task = asyncio.create_task(c.get("/x"))
        await started.wait()
        mock_clock.jump(FALLBACK_GRACE + 0.01)
        r = await task
    assert (r.status_code, r.json()["reason"]) == (429, "RATE_LIMITED")
    assert "x-seawall-fallback" not in r.headers


@pytest.mark.parametrize(
    ("method", "path", "status", "label"),
    [
        ("GET", "/nope", 404, "GET"),
        ("POST", "/known", 405, "POST"),
        ("BREW", "/nope", 404, "OTHER"),
    ],
)
async def test_unmatched_requests_are_counted_under_a_fixed_label(
    method: str, path: str, status: int, label: str
) -> None:
    """404/405 are counted under ``route="<unmatched>"`` (bounded: unknown methods become OTHER)."""
    svc = Service("unmatched")
    svc.get("/known")(lambda: None)
    async with client(svc) as c:
        r = await c.request(method, path)
    assert r.status_code == status
    text = generate_latest(svc.registry).decode()
    assert samples(text, REQUESTS)[labels(route="<unmatched>", method=label, code=str(status))] == 1
    assert "/nope" not in text  # never the raw path
