"""``SeawallMiddleware`` on a real FastAPI app: limits, shedding and timeouts decided before the
app runs, the default policy for unlisted paths (metrics label ``route="*"``) and ``/metrics``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.governance.gov_support import Gate, client, labels, samples, shedder_stats, wait_until

from seawall import HotspotPolicy, Policy, RateLimitPolicy, SeawallMiddleware, SheddingPolicy
from seawall.load import FixedCpuProbe
from seawall.testing import MockClock

REQUESTS = "seawall_http_server_requests_total"
REJECTED = "seawall_http_server_rejected_total"


class Api:
    """A FastAPI app with seawall's middleware, and what its handlers saw."""

    def __init__(self, clock: MockClock, routes: dict[str, Policy], cpu: int = 0, **kw: Any) -> None:
        self.app = FastAPI()
        self.calls: list[str] = []
        self.gate = Gate()
        self.hang = asyncio.Event()  # never set: /slow waits until cancelled
        self.app.add_middleware(
            SeawallMiddleware, routes=routes, cpu_probe=FixedCpuProbe(cpu), clock=clock, **kw
        )

        @self.app.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, int]:
            self.calls.append(f"item {item_id}")
            return {"id": item_id}

        @self.app.get("/held")
        async def held() -> dict[str, bool]:
            self.calls.append("held")
            await self.gate.hold()
            return {"ok": True}

        @self.app.get("/slow")
        async def slow() -> dict[str, bool]:
            self.calls.append("slow")
            await self.hang.wait()
            return {"ok": True}

        @self.app.get("/other")
        async def other() -> dict[str, bool]:
            self.calls.append("other")
            return {"ok": True}

    @property
    def seawall(self) -> SeawallMiddleware:
        """The middleware instance Starlette built (building the stack if no request has yet)."""
        if self.app.middleware_stack is None:
            self.app.middleware_stack = self.app.build_middleware_stack()
        node: Any = self.app.middleware_stack
        while not isinstance(node, SeawallMiddleware):
            node = node.app
        return node

    def client(self) -> httpx.AsyncClient:
        return client(self.app)


async def test_rate_limit_answers_429_with_seawall_error_body(mock_clock: MockClock) -> None:
    """Over the route's limit the middleware answers 429 with seawall's JSON error body and Retry-After."""
    api = Api(mock_clock, {"GET /items/{item_id}": Policy(rate_limit=RateLimitPolicy(rate=1, burst=2))})
    async with api.client() as c:
        statuses = [(await c.get(f"/items/{i}")).status_code for i in range(2)]
        r = await c.get("/items/9")
    assert statuses == [200, 200]
    assert r.status_code == 429
    body = r.json()
    assert (body["code"], body["reason"]) == (42900, "RATE_LIMITED")
    assert r.headers["retry-after"] == "1"
    assert r.headers["content-type"] == "application/json"


async def test_rejection_never_reaches_the_fastapi_handler(mock_clock: MockClock) -> None:
    """The FastAPI endpoint runs for admitted requests only."""
    api = Api(mock_clock, {"/items/{item_id}": Policy(rate_limit=RateLimitPolicy(rate=1, burst=1))})
    async with api.client() as c:
        codes = [(await c.get(f"/items/{i}")).status_code for i in range(4)]
    assert codes == [200, 429, 429, 429]
    assert api.calls == ["item 0"]


async def test_limit_refills_on_the_injected_clock(mock_clock: MockClock) -> None:
    """The middleware's limiters run on the clock passed to it."""
    api = Api(mock_clock, {"GET /other": Policy(rate_limit=RateLimitPolicy(rate=1, burst=1))})
    async with api.client() as c:
        assert [(await c.get("/other")).status_code for _ in range(2)] == [200, 429]
        mock_clock.jump(1.0)
        assert (await c.get("/other")).status_code == 200


async def test_hotspot_reads_the_template_path_parameter(mock_clock: MockClock) -> None:
    """A hotspot on ``path:item_id`` limits item 7 while other items pass."""
    hot = HotspotPolicy(key="path:item_id", rate=100, overrides={"7": 1})
    api = Api(mock_clock, {"GET /items/{item_id}": Policy(hotspots=(hot,))})
    async with api.client() as c:
        hot_codes = [(await c.get("/items/7")).status_code for _ in range(2)]
        cold_codes = [(await c.get(f"/items/{i}")).status_code for i in range(5)]
    assert hot_codes == [200, 429]
    assert cold_codes == [200] * 5


async def test_overloaded_cpu_sheds_with_503(mock_clock: MockClock) -> None:
    """CPU at 1000 and enough requests in flight: the middleware sheds with 503 OVERLOADED."""
    api = Api(mock_clock, {"GET /held": Policy(shedding=SheddingPolicy())}, cpu=1000)
    n = int(shedder_stats(api.seawall).max_flight)  # most admitted (running=1)
    async with api.client() as c:
        held = [asyncio.create_task(c.get("/held")) for _ in range(n)]
        await api.gate.wait_for(n)
        r = await c.get("/held")
        api.gate.release.set()
        done = [(await t).status_code for t in held]
    assert r.status_code == 503
    assert r.json()["reason"] == "OVERLOADED"
    assert r.headers["retry-after"] == "1"
    assert done == [200] * n
    assert api.calls.count("held") == n


async def test_idle_cpu_does_not_shed(mock_clock: MockClock) -> None:
    """CPU at 0: many requests in flight, none shed."""
    api = Api(mock_clock, {"GET /held": Policy(shedding=SheddingPolicy())}, cpu=0)
    async with api.client() as c:
        held = [asyncio.create_task(c.get("/held")) for _ in range(30)]
        await api.gate.wait_for(30)
        api.gate.release.set()
        assert [(await t).status_code for t in held] == [200] * 30


async def test_timeout_answers_504_before_the_response_starts(mock_clock: MockClock) -> None:
    """A FastAPI handler still running at the route timeout is cancelled and the client gets 504."""
    api = Api(mock_clock, {"GET /slow": Policy(timeout=1.0)})
    wheel = api.seawall.governor.wheel
    async with api.client() as c:
        task = asyncio.create_task(c.get("/slow"))
        await wait_until(lambda: "slow" in api.calls)
        mock_clock.jump(0.99)
        assert wheel.tick() == 0
        mock_clock.jump(0.02)
        assert wheel.tick() == 1
        r = await task
    assert r.status_code == 504
    assert r.json()["reason"] == "DEADLINE_EXCEEDED"
    assert wheel.watched == 0


async def test_zero_incoming_deadline_never_reaches_the_app(mock_clock: MockClock) -> None:
    """``X-Seawall-Deadline-Ms: 0`` is answered 504 by the middleware; the handler does not run."""
    api = Api(mock_clock, {"GET /other": Policy(timeout=5.0)})
    async with api.client() as c:
        r = await c.get("/other", headers={"x-seawall-deadline-ms": "0"})
    assert r.status_code == 504
    assert api.calls == []


async def test_unlisted_paths_run_under_the_default_policy_as_route_star(mock_clock: MockClock) -> None:
    """A path not in ``routes`` is served under the default policy and counted as route="*"."""
    api = Api(mock_clock, {"GET /items/{item_id}": Policy()})
    async with api.client() as c:
        assert (await c.get("/other")).status_code == 200
        assert (await c.get("/nowhere")).status_code == 404
        text = (await c.get("/metrics")).text
    requests = samples(text, REQUESTS)
    assert requests[labels(code="200", method="*", route="*")] == 1
    assert requests[labels(code="404", method="*", route="*")] == 1
    assert not any(dict(k)["route"] in ("/other", "/nowhere") for k in requests)


async def test_default_policy_applies_to_unlisted_paths(mock_clock: MockClock) -> None:
    """``policy=`` limits the paths not listed in ``routes``."""
    api = Api(mock_clock, {}, policy=Policy(rate_limit=RateLimitPolicy(rate=1, burst=1)))
    async with api.client() as c:
        assert [(await c.get("/other")).status_code for _ in range(2)] == [200, 429]


async def test_metrics_are_served_by_the_middleware(mock_clock: MockClock) -> None:
    """``GET /metrics`` is answered by the middleware in Prometheus text, rejections included."""
    api = Api(mock_clock, {"GET /other": Policy(rate_limit=RateLimitPolicy(rate=1, burst=1))})
    async with api.client() as c:
        await c.get("/other")
        await c.get("/other")
        r = await c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    key = labels(check="rate_limit", method="GET", reason="RATE_LIMITED", route="/other")
    assert samples(r.text, REJECTED) == {key: 1}


async def test_head_is_governed_like_get(mock_clock: MockClock) -> None:
    """On a Starlette app (which serves HEAD for GET routes), HEAD counts against the GET route's limit."""

    async def x(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/x", x)])
    app.add_middleware(
        SeawallMiddleware,
        routes={"GET /x": Policy(rate_limit=RateLimitPolicy(rate=1, burst=1))},
        clock=mock_clock,
    )
    async with client(app) as c:
        codes = [(await c.head("/x")).status_code for _ in range(2)]
    assert codes == [200, 429]
