"""Helpers shared by the governance tests: a gate that holds handlers, clients, metric parsing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from seawall import Service
from seawall.http import Endpoint

ASGIApp = Callable[..., Any]


class Gate:
    """Holds handlers until released; counts who got in."""

    def __init__(self) -> None:
        self.entered = 0
        self.left = 0
        self.changed = asyncio.Event()
        self.release = asyncio.Event()

    async def hold(self) -> None:
        self.entered += 1
        self.changed.set()
        try:
            await self.release.wait()
        finally:
            self.left += 1

    async def wait_for(self, n: int) -> None:
        while self.entered < n:
            self.changed.clear()
            await self.changed.wait()


def client(app: ASGIApp, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """An in-process client whose requests come from ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def endpoint(svc: Service, path: str, method: str = "GET") -> Endpoint:
    methods = svc.router.get(path)
    assert methods is not None
    return methods[method]


def check(ep: Endpoint, name: str) -> Any:
    """The check called ``name`` in the endpoint's current chain."""
    (found,) = [c for c in (*ep.chain.checks, *ep.chain.async_checks) if c.name == name]
    return found


async def wait_until(predicate: Callable[[], bool], *, rounds: int = 200) -> None:
    """Let other tasks run (no time passes) until ``predicate()`` holds; fail if it never does."""
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached after the event loop went idle")


def samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples called ``name`` in a Prometheus exposition, keyed by their label sets."""
    return {
        frozenset(s.labels.items()): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def labels(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset(kw.items())


def shedder_stats(app: Any, threshold: int = 900) -> Any:
    """The statistics of the app's shared shedder for ``threshold`` (from the registry snapshot)."""
    (found,) = [
        s.statistics
        for s in app.governor.snapshot()
        if s.info.kind == "shedder" and s.info.check == f"shedding:{threshold}"
    ]
    return found


def shedder_thresholds(app: Any) -> list[int]:
    """The CPU thresholds the app has shedders for."""
    return sorted(
        int(s.info.check.rpartition(":")[2]) for s in app.governor.snapshot() if s.info.kind == "shedder"
    )
