"""``service.client(name)``: a governed client from ``dependencies:``, inside handlers, on /metrics."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx
import pytest
from tests.governance.gov_support import client, samples

from seawall import Policy, Service
from seawall.errors import ConfigError, InternalError
from seawall.governance import CALL_CHAIN_HEADER, BreakerPolicy
from seawall.http import Request, Response
from seawall.http._config import SeawallConfig
from seawall.http.client import _transport
from seawall.testing import MockClock

BREAKER = {"kind": "circuit", "minimum_calls": 4, "wait_duration_in_open": 5.0}


def inventory(clock: MockClock) -> tuple[Service, dict[str, object]]:
    """The called service: ``/items/{id}`` answers (or fails, or is slow, as ``state`` says)."""
    svc = Service("inventory", clock=clock)
    state: dict[str, object] = {"fail": False, "delay": 0.0, "seen": []}

    @svc.get("/items/{id}")
    async def item(id: int, request: Request) -> dict[str, int]:
        state["seen"].append(dict(request.headers))  # type: ignore[attr-defined]
        if state["delay"]:
            await clock.sleep(state["delay"])  # type: ignore[arg-type]
        if state["fail"]:
            raise InternalError()
        return {"id": id, "stock": 3}

    return svc, state


@pytest.fixture
def callee(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Service, dict[str, object]]]:
    """Every client's connection pool is the in-process inventory service."""
    svc, state = inventory(autojump_clock)
    monkeypatch.setattr(_transport, "_pool", lambda size: httpx.ASGITransport(app=svc))
    return svc, state


def orders(clock: MockClock, **overrides: object) -> Service:
    svc = Service("orders", clock=clock, rng=random.Random(1))
    svc.configure(
        SeawallConfig(
            dependencies={"inventory": {"instances": ["10.0.0.1:8001"], "timeout": 1.0, "breaker": BREAKER}}
        )
    )
    stock = svc.client("inventory", **overrides)

    @svc.get("/orders/{id}")
    async def order(id: int) -> Response:  # relays the dependency's answer
        response = await stock.get(f"/items/{id}")
        return Response(response.content, status=response.status_code, media_type="application/json")

    @svc.get("/degraded/{id}", fallback=lambda request, rejection: {"stock": None, "why": rejection.reason})
    async def degraded(id: int) -> dict[str, object]:
        response = await stock.get(f"/items/{id}")
        return {"stock": response.json()["stock"]}

    return svc


async def test_client_calls_the_configured_dependency(autojump_clock: MockClock, callee: tuple) -> None:
    """The client built from ``dependencies.inventory`` reaches it, with the call chain and a deadline."""
    _, state = callee
    svc = orders(autojump_clock)
    async with client(svc) as c:
        r = await c.get("/orders/7")
    assert r.json() == {"id": 7, "stock": 3}
    (headers,) = state["seen"]  # type: ignore[misc]
    assert headers[CALL_CHAIN_HEADER] == "orders"
    assert 900 < int(headers["x-seawall-deadline-ms"]) <= 995


async def test_incoming_chain_and_deadline_are_carried_on(autojump_clock: MockClock, callee: tuple) -> None:
    """A request that came through ``edge`` with 300 ms left calls on with ``edge,orders`` and less."""
    _, state = callee
    svc = orders(autojump_clock)
    async with client(svc) as c:
        await c.get("/orders/7", headers={CALL_CHAIN_HEADER: "edge", "x-seawall-deadline-ms": "300"})
    (headers,) = state["seen"]  # type: ignore[misc]
    assert headers[CALL_CHAIN_HEADER] == "edge,orders"
    assert 250 < int(headers["x-seawall-deadline-ms"]) <= 295


async def test_open_breaker_becomes_503_of_the_route(autojump_clock: MockClock, callee: tuple) -> None:
    """Inside a handler, the dependency's open breaker is the route's 503 CIRCUIT_OPEN with Retry-After."""
    _, state = callee
    state["fail"] = True
    svc = orders(autojump_clock, retries=None)
    async with client(svc) as c:
        first = [(await c.get("/orders/1")).status_code for _ in range(4)]
        r = await c.get("/orders/1")
    assert first == [500] * 4
    assert r.status_code == 503
    assert r.json()["reason"] == "CIRCUIT_OPEN"
    assert r.headers["retry-after"] == "5"
    assert len(state["seen"]) == 4  # type: ignore[arg-type]


async def test_route_fallback_answers_the_open_breaker(autojump_clock: MockClock, callee: tuple) -> None:
    """The route's fallback answers a dependency's open breaker."""
    _, state = callee
    state["fail"] = True
    svc = orders(autojump_clock, retries=None)
    async with client(svc) as c:
        for _ in range(4):
            await c.get("/degraded/1")
        r = await c.get("/degraded/1")
    assert r.json() == {"stock": None, "why": "CIRCUIT_OPEN"}
    assert r.headers["x-seawall-fallback"] == "CIRCUIT_OPEN"


async def test_spent_deadline_becomes_504_of_the_route(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dependency that does not answer within what the caller allows: DeadlineExceeded inside the
    handler, answered 504 DEADLINE_EXCEEDED by the route."""

    async def silent(request: httpx.Request) -> httpx.Response:
        await autojump_clock.sleep(60.0)
        return httpx.Response(200)

    monkeypatch.setattr(_transport, "_pool", lambda size: httpx.MockTransport(silent))
    svc = orders(autojump_clock)
    async with client(svc) as c:
        r = await c.get("/orders/1", headers={"x-seawall-deadline-ms": "200"})
    assert r.status_code == 504
    assert r.json()["reason"] == "DEADLINE_EXCEEDED"
    assert autojump_clock.now() < 0.3


async def test_callee_deadline_answer_is_relayed(autojump_clock: MockClock, callee: tuple) -> None:
    """A seawall dependency gets a shorter deadline than the caller: its own 504 comes back first."""
    _, state = callee
    state["delay"] = 5.0
    svc = orders(autojump_clock)
    async with client(svc) as c:
        r = await c.get("/orders/1", headers={"x-seawall-deadline-ms": "200"})
    assert r.status_code == 504
    assert r.json()["reason"] == "DEADLINE_EXCEEDED"


async def test_client_fallback_answers_first(autojump_clock: MockClock, callee: tuple) -> None:
    """A dependency's own ``fallback=`` answers before the route ever sees the rejection."""
    _, state = callee
    state["fail"] = True
    svc = orders(autojump_clock, retries=None, fallback=lambda request, rejection: {"stock": 0})
    async with client(svc) as c:
        for _ in range(4):
            await c.get("/orders/1")
        r = await c.get("/orders/1")
    assert r.json() == {"stock": 0}
    assert "x-seawall-fallback" not in r.headers  # the route answered normally, with the fallback's body


async def test_overrides_replace_the_configuration(autojump_clock: MockClock, callee: tuple) -> None:
    """Code-level overrides win over the file: here the breaker is switched off."""
    _, state = callee
    state["fail"] = True
    svc = orders(autojump_clock, retries=None, breaker=None)
    async with client(svc) as c:
        codes = {(await c.get("/orders/1")).status_code for _ in range(10)}
    assert codes == {500}


def test_one_client_per_name(autojump_clock: MockClock) -> None:
    """Asking again returns the same client; other overrides for the same name are refused."""
    svc = Service("orders", clock=autojump_clock)
    first = svc.client("inventory", timeout=2.0)
    assert svc.client("inventory") is first
    assert svc.client("inventory", timeout=2.0) is first
    with pytest.raises(ValueError, match="other overrides"):
        svc.client("inventory", timeout=3.0)


def test_unknown_override_is_refused_at_once() -> None:
    """A misspelt override fails when the client is asked for, not at the first call."""
    with pytest.raises(TypeError, match="timout"):
        Service("orders").client("inventory", timout=1.0)


async def test_dependency_without_instances_fails_clearly(autojump_clock: MockClock) -> None:
    """A dependency neither configured nor given instances says how to fix it at the first call."""
    svc = Service("orders", clock=autojump_clock)
    stock = svc.client("inventory")
    with pytest.raises(ConfigError, match=r"dependencies\.inventory\.instances"):
        await stock.get("/items/1")


async def test_client_figures_are_on_metrics(autojump_clock: MockClock, callee: tuple) -> None:
    """``seawall_http_client_*`` families are on the service's /metrics, by dependency."""
    svc = orders(autojump_clock)
    async with client(svc) as c:
        await c.get("/orders/1")
        text = (await c.get("/metrics")).text
    requests = samples(text, "seawall_http_client_requests_total")
    assert requests == {frozenset({("dependency", "inventory"), ("outcome", "ok"), ("code", "200")}): 1.0}
    state = samples(text, "seawall_http_client_breaker_state")
    assert state[frozenset({("dependency", "inventory"), ("state", "closed")})] == 1.0
    assert samples(text, "seawall_http_client_instances") == {frozenset({("dependency", "inventory")}): 1.0}


async def test_clients_close_at_shutdown(autojump_clock: MockClock, callee: tuple) -> None:
    """Shutting the service down closes its clients."""
    svc = orders(autojump_clock)
    stock = svc.client("inventory")
    await svc.startup()
    await svc.shutdown()
    assert stock.is_closed


async def test_dependency_breaker_is_a_governance_resource(autojump_clock: MockClock, callee: tuple) -> None:
    """The dependency's breaker lives in the service's registry, listed under its name."""
    svc = orders(autojump_clock)
    async with client(svc) as c:
        await c.get("/orders/1")
    kinds = {(s.info.kind, s.info.target) for s in svc.governor.snapshot()}
    assert ("circuit_breaker", "inventory") in kinds


async def test_loop_through_the_client_is_508(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service that calls itself through its client is refused on the second visit (508)."""
    svc = Service("orders", clock=autojump_clock)
    monkeypatch.setattr(_transport, "_pool", lambda size: httpx.ASGITransport(app=svc))
    me = svc.client("orders", instances=["10.0.0.1:8000"])

    @svc.get("/again")
    async def again() -> dict[str, int]:
        return {"status": (await me.get("/again")).status_code}

    async with client(svc) as c:
        r = await c.get("/again")
    assert r.json() == {"status": 508}


def test_policy_breaker_of_a_dependency_is_the_route_section() -> None:
    """A dependency's breaker is the same ``breaker`` section a route uses."""
    from seawall.http.client import Dependency

    policy = Dependency(name="inventory", instances=["10.0.0.1:1"]).policy()
    assert isinstance(policy.breaker, BreakerPolicy)
    assert policy.loop_detection is None
    assert Policy(breaker=policy.breaker).breaker == policy.breaker


PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UNSAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


def traced_orders(clock: MockClock, sample_ratio: float) -> Service:
    from seawall.http._config import TracingConfig

    svc = Service("orders", clock=clock)
    svc.configure(
        SeawallConfig(
            tracing=TracingConfig(sample_ratio=sample_ratio),
            dependencies={"inventory": {"instances": ["10.0.0.1:8001"]}},
        )
    )
    stock = svc.client("inventory")

    @svc.get("/orders/{id}")
    async def order(id: int) -> dict[str, int]:
        return (await stock.get(f"/items/{id}")).json()  # type: ignore[no-any-return]

    return svc


async def test_sampled_request_calls_on_as_the_child_span(autojump_clock: MockClock, callee: tuple) -> None:
    """With tracing on, a sampled request's outbound call carries its own span as parent: same
    trace id, new parent id."""
    _, state = callee
    svc = traced_orders(autojump_clock, 1.0)
    async with client(svc) as c:
        await c.get("/orders/1", headers={"traceparent": PARENT})
    sent = state["seen"][0]["traceparent"]  # type: ignore[index]
    _, trace_id, parent_id, flags = sent.split("-")
    assert trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert parent_id != "b7ad6b7169203331"
    assert flags == "01"


async def test_unsampled_request_forwards_the_trace_context(autojump_clock: MockClock, callee: tuple) -> None:
    """A request its caller did not sample has no span here: its trace context is forwarded as it came."""
    _, state = callee
    svc = traced_orders(autojump_clock, 1.0)
    async with client(svc) as c:
        await c.get("/orders/1", headers={"traceparent": UNSAMPLED})
    assert state["seen"][0]["traceparent"] == UNSAMPLED  # type: ignore[index]
