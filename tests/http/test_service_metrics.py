"""Per-route request metrics at ``/metrics``: labelled by route template, rejections counted,
BARE routes left out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from seawall import BARE, Policy, Service

Client = Callable[[Any], httpx.AsyncClient]
REQUESTS = "seawall_http_server_requests_total"
DURATION_COUNT = "seawall_http_server_request_duration_seconds_count"
REJECTED = "seawall_http_server_rejected_total"


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


def items_service() -> Service:
    svc = Service("metrics")

    @svc.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @svc.get("/bare", policy=BARE)
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    return svc


async def test_requests_counted_by_route_template(asgi_client: Client) -> None:
    """N requests to distinct paths of one template count N under the template, never the raw path."""
    svc = items_service()
    async with asgi_client(svc) as client:
        for i in range(5):
            assert (await client.get(f"/items/{i}")).status_code == 200
        text = (await client.get("/metrics")).text
    requests = samples(text, REQUESTS)
    assert requests[labels(code="200", method="GET", route="/items/{item_id}")] == 5
    assert not any(dict(k)["route"].startswith("/items/") and "{" not in dict(k)["route"] for k in requests)
    assert "/items/3" not in text


async def test_duration_histogram_counts_every_request(asgi_client: Client) -> None:
    """The latency histogram's count equals the number of requests served on the route."""
    svc = items_service()
    async with asgi_client(svc) as client:
        for i in range(4):
            await client.get(f"/items/{i}")
        text = (await client.get("/metrics")).text
    assert samples(text, DURATION_COUNT)[labels(method="GET", route="/items/{item_id}")] == 4


async def test_status_codes_are_separate_series(asgi_client: Client) -> None:
    """A 400 on the same route is counted under its own code label."""
    svc = items_service()
    async with asgi_client(svc) as client:
        await client.get("/items/1")
        await client.get("/items/not-a-number")
        text = (await client.get("/metrics")).text
    requests = samples(text, REQUESTS)
    assert requests[labels(code="200", method="GET", route="/items/{item_id}")] == 1
    assert requests[labels(code="400", method="GET", route="/items/{item_id}")] == 1


async def test_rejections_are_counted_by_reason(asgi_client: Client) -> None:
    """A 503 from the concurrency limit shows in the rejected counter and as a 503 request."""
    svc = Service("metrics")
    release = asyncio.Event()
    entered = asyncio.Event()

    @svc.get("/slow", policy=Policy(max_conns=1))
    async def slow() -> None:
        entered.set()
        await release.wait()

    async with asgi_client(svc) as client:
        first = asyncio.create_task(client.get("/slow"))
        await entered.wait()
        assert (await client.get("/slow")).status_code == 503
        assert (await client.get("/slow")).status_code == 503
        release.set()
        await first
        text = (await client.get("/metrics")).text
    assert (
        samples(text, REJECTED)[labels(check="concurrency", method="GET", reason="OVERLOADED", route="/slow")]
        == 2
    )
    requests = samples(text, REQUESTS)
    assert requests[labels(code="503", method="GET", route="/slow")] == 2
    assert requests[labels(code="204", method="GET", route="/slow")] == 1


async def test_bare_routes_are_not_counted(asgi_client: Client) -> None:
    """Requests to BARE routes (and the built-in endpoints) add no request samples."""
    svc = items_service()
    async with asgi_client(svc) as client:
        for _ in range(3):
            await client.get("/bare")
            await client.get("/healthz")
        await client.get("/metrics")
        text = (await client.get("/metrics")).text
    routes = {dict(k)["route"] for k in samples(text, REQUESTS)}
    assert routes.isdisjoint({"/bare", "/healthz", "/metrics"})
    counts = samples(text, DURATION_COUNT)
    assert counts.get(labels(method="GET", route="/bare"), 0) == 0


async def test_metrics_false_route_is_not_counted(asgi_client: Client) -> None:
    """A route with ``metrics=False`` but other checks on is served but not counted."""
    svc = Service("metrics")

    @svc.get("/quiet", policy=Policy(metrics=False, max_conns=5))
    async def quiet() -> dict[str, bool]:
        return {"ok": True}

    async with asgi_client(svc) as client:
        assert (await client.get("/quiet")).status_code == 200
        text = (await client.get("/metrics")).text
    assert not any(dict(k)["route"] == "/quiet" for k in samples(text, REQUESTS))


async def test_metrics_content_type_is_prometheus_text(asgi_client: Client) -> None:
    """``/metrics`` answers in the Prometheus text exposition format."""
    svc = items_service()
    async with asgi_client(svc) as client:
        r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "# TYPE seawall_http_server_requests_total counter" in r.text


async def test_builtin_endpoints_have_no_series(asgi_client: Client) -> None:
    """/healthz, /readyz, /metrics and /openapi.json never appear as a route label."""
    svc = items_service()
    async with asgi_client(svc) as client:
        await client.get("/healthz")
        text = (await client.get("/metrics")).text
    assert 'route="/healthz"' not in text
    assert 'route="/metrics"' not in text
    assert 'route="/openapi.json"' not in text
