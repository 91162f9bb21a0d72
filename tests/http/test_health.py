"""Health endpoints: ``/healthz`` always 200; ``/readyz`` follows startup and drain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from seawall import Service

Client = Callable[[Any], httpx.AsyncClient]


async def test_healthz_is_200_even_before_startup(asgi_client: Client) -> None:
    """Liveness does not depend on readiness."""
    async with asgi_client(Service("health")) as client:
        r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_is_503_not_ready_before_startup(asgi_client: Client) -> None:
    """Before ``startup()`` readiness is 503 NOT_READY with the error body."""
    async with asgi_client(Service("health")) as client:
        r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["reason"] == "NOT_READY"
    assert "starting" in r.json()["message"]


async def test_readyz_is_200_after_startup(asgi_client: Client) -> None:
    """After ``startup()`` readiness is 200."""
    svc = Service("health")
    await svc.startup()
    try:
        async with asgi_client(svc) as client:
            r = await client.get("/readyz")
    finally:
        await svc.shutdown()
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}


async def test_readyz_is_503_while_draining_but_requests_are_served(asgi_client: Client) -> None:
    """After ``begin_drain()`` readiness is 503 NOT_READY while routes still answer."""
    svc = Service("health")
    svc.get("/work")(lambda: {"ok": True})
    await svc.startup()
    svc.begin_drain()
    try:
        async with asgi_client(svc) as client:
            ready = await client.get("/readyz")
            work = await client.get("/work")
    finally:
        await svc.shutdown()
    assert ready.status_code == 503
    assert ready.json()["reason"] == "NOT_READY"
    assert "draining" in ready.json()["message"]
    assert work.status_code == 200


async def test_readyz_is_503_after_shutdown(asgi_client: Client) -> None:
    """After ``shutdown()`` readiness is 503 again."""
    svc = Service("health")
    await svc.startup()
    await svc.shutdown()
    async with asgi_client(svc) as client:
        r = await client.get("/readyz")
    assert r.status_code == 503


async def test_startup_and_shutdown_hooks_run_in_order() -> None:
    """Sync and async startup hooks run before the service is ready; shutdown hooks on shutdown."""
    svc = Service("health")
    events: list[str] = []

    @svc.on_startup
    def sync_hook() -> None:
        events.append(f"sync ready={svc.ready}")

    @svc.on_startup
    async def async_hook() -> None:
        events.append(f"async ready={svc.ready}")

    @svc.on_shutdown
    async def bye() -> None:
        events.append("shutdown")

    await svc.startup()
    assert svc.ready
    await svc.shutdown()
    assert events == ["sync ready=False", "async ready=False", "shutdown"]


async def test_lifespan_protocol_runs_startup_and_shutdown() -> None:
    """The ASGI lifespan messages drive ``startup()`` and ``shutdown()``."""
    svc = Service("health")
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []
    ready_seen: list[bool] = []

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        ready_seen.append(svc.ready)

    await svc({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert ready_seen == [True, False]


async def test_failed_startup_is_reported_over_lifespan() -> None:
    """A startup hook that raises makes the lifespan answer ``startup.failed``, and never ready."""
    svc = Service("health")

    @svc.on_startup
    def broken() -> None:
        raise RuntimeError("db down")

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await svc({"type": "lifespan"}, receive, send)
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "db down" in sent[0]["message"]
    assert not svc.ready
