"""The ``loop_detection`` section: 508 when a call comes back, and the call context it records."""

from __future__ import annotations

import pytest
from tests.governance.gov_support import client, endpoint

from seawall import Policy, Service
from seawall.errors import ConfigError
from seawall.governance import CALL_CHAIN_HEADER, LOOP_DETECTION, Inbound, LoopPolicy, decode_patch, inbound
from seawall.governance.checks import parse_chain

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def service(policy: Policy | None = None) -> tuple[Service, list[Inbound | None]]:
    svc = Service("orders")
    seen: list[Inbound | None] = []

    @svc.get("/x", policy=policy)
    async def x() -> dict[str, bool]:
        seen.append(inbound())
        return {"ok": True}

    return svc, seen


def test_on_by_default() -> None:
    """Every route checks for loops unless its policy says ``loop_detection=None``; it runs first."""
    assert Policy()[LOOP_DETECTION] == LoopPolicy(max_depth=10)
    svc, _ = service()
    assert endpoint(svc, "/x").chain.names[0] == "loop_detection"


async def test_own_name_in_the_chain_is_508() -> None:
    """A call whose chain already holds this service's name is refused with 508, unrun."""
    svc, seen = service()
    async with client(svc) as c:
        r = await c.get("/x", headers={CALL_CHAIN_HEADER: "edge, orders ,inventory"})
    assert r.status_code == 508
    assert r.json()["reason"] == "LOOP_DETECTED"
    assert "orders is already in the call chain edge,orders,inventory" in r.json()["message"]
    assert seen == []


async def test_other_names_pass() -> None:
    """A chain without this service's name (a prefix of it is not it) is let through."""
    svc, seen = service()
    async with client(svc) as c:
        r = await c.get("/x", headers={CALL_CHAIN_HEADER: "edge,orders-v2,order"})
    assert r.status_code == 200
    assert seen[0] is not None
    assert seen[0].chain == ("edge", "orders-v2", "order")


async def test_chain_as_deep_as_the_maximum_is_508() -> None:
    """With ``max_depth=3``, a call that went through 3 services is refused, through 2 is served."""
    svc, _ = service(Policy(loop_detection=LoopPolicy(max_depth=3)))
    async with client(svc) as c:
        assert (await c.get("/x", headers={CALL_CHAIN_HEADER: "a,b"})).status_code == 200
        r = await c.get("/x", headers={CALL_CHAIN_HEADER: "a,b,c"})
    assert r.status_code == 508
    assert "3 services deep" in r.json()["message"]


async def test_off_lets_loops_through() -> None:
    """``loop_detection=None`` neither refuses nor records anything."""
    svc, seen = service(Policy(loop_detection=None))
    async with client(svc) as c:
        r = await c.get("/x", headers={CALL_CHAIN_HEADER: "orders", "traceparent": PARENT})
    assert r.status_code == 200
    assert seen == [None]


async def test_trace_context_is_recorded() -> None:
    """The incoming ``traceparent``/``tracestate`` are what outbound calls will forward."""
    svc, seen = service()
    async with client(svc) as c:
        await c.get("/x", headers={"traceparent": PARENT, "tracestate": "a=1"})
    assert seen[0] is not None
    assert (seen[0].chain, seen[0].traceparent, seen[0].tracestate) == ((), PARENT, "a=1")


async def test_nothing_is_recorded_without_headers() -> None:
    """A call with neither header leaves no context (and costs two header lookups)."""
    svc, seen = service()
    async with client(svc) as c:
        await c.get("/x")
    assert seen == [None]


async def test_context_does_not_outlive_the_call() -> None:
    """After the call, the context is back to what it was."""
    svc, _ = service()
    async with client(svc) as c:
        await c.get("/x", headers={CALL_CHAIN_HEADER: "edge"})
    assert inbound() is None


def test_parse_chain_drops_blanks() -> None:
    """Blank entries and surrounding spaces are ignored."""
    assert parse_chain(" a, ,b,,c ") == ("a", "b", "c")
    assert parse_chain("") == ()


def test_max_depth_is_bounded() -> None:
    """``max_depth`` is between 1 and 64 (the longest chain a call carries)."""
    with pytest.raises(ValueError, match="max_depth must be <= 64"):
        LoopPolicy(max_depth=65)
    with pytest.raises(ConfigError) as info:
        decode_patch({"loop_detection": {"max_depth": 0}}, "$.default")
    assert info.value.path == "$.default.loop_detection.max_depth"
