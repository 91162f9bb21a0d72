"""One guarded path: a Service route and the same route behind SeawallMiddleware answer every
governance situation with the same status, headers, body reason and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from tests.governance.gov_support import Gate, labels, samples

from seawall import Policy, RateLimitPolicy, SeawallMiddleware, Service
from seawall.errors import CircuitOpen, Rejected
from seawall.governance import Call
from seawall.testing import MockClock

Scope = MutableMapping[str, Any]
REQUESTS = "seawall_http_server_requests_total"
REJECTED = "seawall_http_server_rejected_total"

POLICIES = {
    "GET /limited": Policy(rate_limit=RateLimitPolicy(rate=1, burst=1)),
    "GET /held": Policy(max_conns=1),
    "GET /slow": Policy(timeout=1.0),
    "GET /degraded": Policy(rate_limit=RateLimitPolicy(rate=1, burst=1)),
    "GET /quiet": Policy(rate_limit=RateLimitPolicy(rate=1, burst=1), metrics=False),
    "GET /untimed": Policy(timeout=None),
    "GET /keyed": Policy(rate_limit=RateLimitPolicy(rate=5, key="fn:broken")),
}


def degraded(call: Call, rejection: Rejected) -> dict[str, str]:
    return {"served": "from cache", "because": rejection.reason}


def broken_key(call: Call) -> Any:
    raise LookupError("the tenant directory is down")


class Harness:
    """The same five handlers, served by a Service or by an ASGI app behind the middleware."""

    def __init__(self, kind: str, clock: MockClock) -> None:
        self.gate = Gate()
        self.ran: list[str] = []
        if kind == "service":
            svc = Service("parity", clock=clock)
            svc.key_function("broken")(broken_key)
            for key, policy in POLICIES.items():
                path = key.split(" ")[1]
                svc.get(path, policy=policy, fallback=degraded if path == "/degraded" else None)(
                    self._handler(path)
                )
            svc.get("/breaker")(self._handler("/breaker"))
            svc.get("/boom")(self._handler("/boom"))
            self.app: Any = svc
            self.registry = svc.registry
        else:
            mw = SeawallMiddleware(
                self._inner,
                name="parity",
                routes={**POLICIES, "GET /breaker": Policy(), "GET /boom": Policy()},
                fallbacks={"GET /degraded": degraded},
                key_functions={"broken": broken_key},
                clock=clock,
                metrics_path=None,
            )
            self.app = mw
            self.registry = mw.registry

    def _handler(self, path: str) -> Callable[[], Awaitable[dict[str, bool]]]:
        async def handler() -> dict[str, bool]:
            await self._work(path)
            return {"ok": True}

        return handler

    async def _work(self, path: str) -> None:
        self.ran.append(path)
        if path == "/held":
            await self.gate.hold()
        elif path == "/slow":
            await asyncio.Event().wait()
        elif path == "/breaker":
            raise CircuitOpen("inventory is failing", retry_after=3.0, check="breaker:inventory")
        elif path == "/boom":
            raise RuntimeError("bug")

    async def _inner(self, scope: Scope, receive: Any, send: Any) -> None:
        await self._work(scope["path"])
        body = b'{"ok":true}'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=("10.0.0.1", 5000))
        return httpx.AsyncClient(transport=transport, base_url="http://parity")

    def metric(self, name: str, **kw: str) -> float:
        return samples(generate_latest(self.registry).decode(), name).get(labels(**kw), 0.0)


@pytest.fixture(params=["service", "middleware"])
def harness(request: pytest.FixtureRequest, mock_clock: MockClock) -> Harness:
    return Harness(request.param, mock_clock)


async def test_rate_limited(harness: Harness) -> None:
    """Second request within the bucket: 429 RATE_LIMITED with Retry-After, counted by reason and check."""
    async with harness.client() as c:
        first, second = await c.get("/limited"), await c.get("/limited")
    assert (first.status_code, second.status_code) == (200, 429)
    assert second.json()["reason"] == "RATE_LIMITED"
    assert second.headers["retry-after"] == "1"
    route = {"route": "/limited", "method": "GET"}
    assert harness.metric(REJECTED, **route, reason="RATE_LIMITED", check="rate_limit") == 1
    assert harness.metric(REQUESTS, **route, code="429") == 1
    assert harness.ran == ["/limited"]


async def test_head_is_governed_like_get(harness: Harness) -> None:
    """HEAD takes from the GET route's limit and gets the same status, without a body."""
    async with harness.client() as c:
        await c.get("/limited")
        r = await c.head("/limited")
    assert r.status_code == 429
    assert r.content == b""


async def test_concurrency_limit(harness: Harness) -> None:
    """With the only slot taken, the next request is 503 OVERLOADED with Retry-After and never runs."""
    async with harness.client() as c:
        held = asyncio.create_task(c.get("/held"))
        await harness.gate.wait_for(1)
        r = await c.get("/held")
        harness.gate.release.set()
        assert (await held).status_code == 200
    assert (r.status_code, r.json()["reason"], r.headers["retry-after"]) == (503, "OVERLOADED", "1")
    assert harness.ran == ["/held"]


async def test_deadline_cancels_and_answers_504(harness: Harness, mock_clock: MockClock) -> None:
    """A handler still running at its timeout is cancelled; 504 DEADLINE_EXCEEDED, counted as such."""
    async with harness.client() as c:
        task = asyncio.create_task(c.get("/slow"))
        while "/slow" not in harness.ran:  # noqa: ASYNC110 - no event to wait on in the harness
            await asyncio.sleep(0)
        mock_clock.jump(1.01)
        r = await task
    assert (r.status_code, r.json()["reason"]) == (504, "DEADLINE_EXCEEDED")
    route = {"route": "/slow", "method": "GET"}
    assert harness.metric(REJECTED, **route, reason="DEADLINE_EXCEEDED", check="timeout") == 1
    assert harness.metric(REQUESTS, **route, code="504") == 1


async def test_spent_incoming_deadline_is_504_without_running_even_without_a_timeout(
    harness: Harness,
) -> None:
    """``X-Seawall-Deadline-Ms: 0`` is refused before the work, on a route with ``timeout=None`` too."""
    async with harness.client() as c:
        r = await c.get("/untimed", headers={"x-seawall-deadline-ms": "0"})
    assert (r.status_code, r.json()["reason"]) == (504, "DEADLINE_EXCEEDED")
    assert harness.ran == []


async def test_rejection_raised_by_the_work_is_its_status(harness: Harness) -> None:
    """A CircuitOpen raised inside the work is 503 CIRCUIT_OPEN with Retry-After in both (was 500)."""
    async with harness.client() as c:
        r = await c.get("/breaker")
    assert (r.status_code, r.json()["reason"], r.headers["retry-after"]) == (503, "CIRCUIT_OPEN", "3")
    route = {"route": "/breaker", "method": "GET"}
    assert harness.metric(REJECTED, **route, reason="CIRCUIT_OPEN", check="breaker:inventory") == 1


async def test_unexpected_error_is_500_with_the_error_body(harness: Harness) -> None:
    """An exception in the work is 500 INTERNAL with seawall's body and no traceback."""
    async with harness.client() as c:
        r = await c.get("/boom")
    assert (r.status_code, r.json()["reason"]) == (500, "INTERNAL")
    assert "Traceback" not in r.text


async def test_fallback_answers_a_rejection(harness: Harness) -> None:
    """A rejected request gets the fallback's value and ``X-Seawall-Fallback: <REASON>``."""
    async with harness.client() as c:
        await c.get("/degraded")
        r = await c.get("/degraded")
    assert r.status_code == 200
    assert r.json() == {"served": "from cache", "because": "RATE_LIMITED"}
    assert r.headers["x-seawall-fallback"] == "RATE_LIMITED"


async def test_metrics_off_counts_nothing_even_rejections(harness: Harness) -> None:
    """A ``metrics=False`` route is neither observed nor counted when it rejects."""
    async with harness.client() as c:
        codes = [(await c.get("/quiet")).status_code for _ in range(2)]
    assert codes == [200, 429]
    text = generate_latest(harness.registry).decode()
    assert 'route="/quiet"' not in text


async def test_failing_key_function_is_500_with_the_error_body(harness: Harness) -> None:
    """An exception while computing a client key is 500 INTERNAL with the error body, not a crash."""
    async with harness.client() as c:
        r = await c.get("/keyed")
    assert (r.status_code, r.json()["reason"]) == (500, "INTERNAL")
    assert harness.ran == []
