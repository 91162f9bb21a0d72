"""Governance: concurrency limit (503 + Retry-After), timeouts (504 via the timer wheel) and
atomic recompilation of route policies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from seawall import ConfigError, Policy, Service
from seawall.governance import Chain, CompileContext
from seawall.governance.checks import ConcurrencyCheck
from seawall.http import Endpoint
from seawall.limit import ConcurrencyLimit
from seawall.testing import MockClock

Client = Callable[[Any], httpx.AsyncClient]


class Gate:
    """Holds handlers inside the route until released; counts who got in."""

    def __init__(self) -> None:
        self.entered = 0
        self.changed = asyncio.Event()
        self.release = asyncio.Event()

    async def hold(self) -> None:
        self.entered += 1
        self.changed.set()
        await self.release.wait()

    async def wait_for(self, n: int) -> None:
        while self.entered < n:
            self.changed.clear()
            await self.changed.wait()


def endpoint(svc: Service, path: str, method: str = "GET") -> Endpoint:
    methods = svc.router.get(path)
    assert methods is not None
    return methods[method]


def concurrency(chain: Chain) -> ConcurrencyLimit:
    """The concurrency limit the chain's concurrency check adapts."""
    (check,) = [c for c in chain.checks if isinstance(c, ConcurrencyCheck)]
    return check.limit


def gated_service(policy: Policy) -> tuple[Service, Gate]:
    svc = Service("gov")
    gate = Gate()

    @svc.get("/work", policy=policy)
    async def work() -> dict[str, bool]:
        await gate.hold()
        return {"ok": True}

    return svc, gate


# -- concurrency ------------------------------------------------------------------------------


async def test_over_max_conns_is_503_overloaded_with_retry_after(asgi_client: Client) -> None:
    """With ``max_conns=1`` and one request in the handler, the next is 503 OVERLOADED with Retry-After."""
    svc, gate = gated_service(Policy(max_conns=1))
    async with asgi_client(svc) as client:
        first = asyncio.create_task(client.get("/work"))
        await gate.wait_for(1)
        second = await client.get("/work")
        gate.release.set()
        assert (await first).status_code == 200
    assert second.status_code == 503
    assert second.json()["reason"] == "OVERLOADED"
    assert second.headers["retry-after"] == "1"
    assert gate.entered == 1  # the rejected request never reached the handler


async def test_slot_is_released_after_the_response(asgi_client: Client) -> None:
    """Once the in-flight request finishes, the next one is admitted again."""
    svc, gate = gated_service(Policy(max_conns=1))
    gate.release.set()
    async with asgi_client(svc) as client:
        codes = [(await client.get("/work")).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    assert concurrency(endpoint(svc, "/work").chain).in_flight == 0


async def test_rejection_is_decided_before_the_body_is_read(asgi_client: Client) -> None:
    """A request rejected by the concurrency limit is answered without its body being read."""
    svc = Service("gov")
    gate = Gate()
    reads = 0

    @svc.post("/upload", policy=Policy(max_conns=1))
    async def upload(data: dict[str, int]) -> dict[str, int]:
        await gate.hold()
        return data

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/upload", "headers": [], "query_string": b""}
    first = asyncio.create_task(svc(scope, receive, send))
    await gate.wait_for(1)
    reads_before = reads
    second: list[dict[str, Any]] = []

    async def send2(message: dict[str, Any]) -> None:
        second.append(message)

    await svc(dict(scope), receive, send2)
    gate.release.set()
    await first
    assert second[0]["status"] == 503
    assert reads == reads_before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": 0}, "timeout must be > 0"),
        ({"max_conns": 0}, "max_conns must be >= 1"),
        ({"max_body": -1}, "max_body must be >= 0"),
        ({"timeout": float("nan")}, "timeout must be > 0"),
        ({"timeout": float("inf")}, "timeout must be <= 86400"),
        ({"max_conns": "5"}, "max_conns: Expected `int | null`, got `str`"),
    ],
)
def test_policy_validates_its_fields(kwargs: dict[str, Any], message: str) -> None:
    """Policy rejects nonsensical values at construction."""
    with pytest.raises(ValueError, match=message):
        Policy(**kwargs)


# -- timeouts ---------------------------------------------------------------------------------


def hanging_service(clock: MockClock, timeout: float = 2.0) -> tuple[Service, asyncio.Event, list[str]]:
    svc = Service("timeouts", clock=clock)
    entered = asyncio.Event()
    events: list[str] = []

    @svc.get("/hang", policy=Policy(timeout=timeout))
    async def hang() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()  # forever
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    return svc, entered, events


async def test_timeout_answers_504_and_cancels_the_handler(
    asgi_client: Client, mock_clock: MockClock
) -> None:
    """A handler still running at the route's timeout is cancelled and the client gets 504."""
    svc, entered, events = hanging_service(mock_clock, timeout=2.0)
    async with asgi_client(svc) as client:
        task = asyncio.create_task(client.get("/hang"))
        await entered.wait()
        mock_clock.jump(2.01)  # the wheel's ticker sleeps on the clock: no manual tick
        r = await task
    assert r.status_code == 504
    assert r.json()["reason"] == "DEADLINE_EXCEEDED"
    assert events == ["cancelled"]
    assert svc.metrics.route("/hang", "GET").codes == {504: 1}


async def test_timeout_does_not_fire_early(asgi_client: Client, mock_clock: MockClock) -> None:
    """Before the deadline the wheel cancels nothing and the handler keeps running."""
    svc, entered, events = hanging_service(mock_clock, timeout=2.0)
    async with asgi_client(svc) as client:
        task = asyncio.create_task(client.get("/hang"))
        await entered.wait()
        mock_clock.jump(1.99)
        for _ in range(10):
            await asyncio.sleep(0)
        assert not task.done()
        assert events == []
        mock_clock.jump(0.02)
        assert (await task).status_code == 504


async def test_timed_out_request_releases_its_slot(asgi_client: Client, mock_clock: MockClock) -> None:
    """After a 504 the concurrency slot and the in-flight gauge are released."""
    svc, entered, _ = hanging_service(mock_clock, timeout=1.0)
    async with asgi_client(svc) as client:
        task = asyncio.create_task(client.get("/hang"))
        await entered.wait()
        mock_clock.jump(1.01)
        await task
    assert concurrency(endpoint(svc, "/hang").chain).in_flight == 0
    assert svc.metrics.route("/hang", "GET").in_flight == 0
    assert svc.governor.wheel.watched == 0


async def test_handler_timeout_error_is_500_not_504(asgi_client: Client, mock_clock: MockClock) -> None:
    """A handler raising its own TimeoutError is an internal error, not a deadline."""
    svc = Service("timeouts", clock=mock_clock)

    @svc.get("/own-timeout", policy=Policy(timeout=5.0))
    async def own_timeout() -> None:
        raise TimeoutError("upstream took too long")

    async with asgi_client(svc) as client:
        r = await client.get("/own-timeout")
    assert r.status_code == 500
    assert r.json()["reason"] == "INTERNAL"


async def test_outside_cancellation_is_not_answered(asgi_client: Client, mock_clock: MockClock) -> None:
    """A cancellation that is not the route's timeout (client gone) propagates, and the slot is freed."""
    svc, entered, events = hanging_service(mock_clock, timeout=5.0)
    async with asgi_client(svc) as client:
        task = asyncio.create_task(client.get("/hang"))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert events == ["cancelled"]
    assert concurrency(endpoint(svc, "/hang").chain).in_flight == 0


async def test_fast_handler_is_unwatched_after_it_returns(asgi_client: Client, mock_clock: MockClock) -> None:
    """A handler that finishes in time leaves nothing for the wheel to cancel."""
    svc = Service("timeouts", clock=mock_clock)

    @svc.get("/fast", policy=Policy(timeout=1.0))
    async def fast() -> dict[str, bool]:
        return {"ok": True}

    async with asgi_client(svc) as client:
        assert (await client.get("/fast")).status_code == 200
    mock_clock.jump(5)
    assert svc.governor.wheel.tick() == 0


# -- recompile --------------------------------------------------------------------------------


async def test_recompile_swaps_policy_for_new_requests_only(asgi_client: Client) -> None:
    """A request in flight keeps its old chain and frees its old slot; new requests use the new policy."""
    svc, gate = gated_service(Policy(max_conns=1))
    old = endpoint(svc, "/work").chain
    async with asgi_client(svc) as client:
        a = asyncio.create_task(client.get("/work"))
        await gate.wait_for(1)
        assert (await client.get("/work")).status_code == 503  # old policy: 1 slot, taken

        svc.recompile({"GET /work": Policy(max_conns=2)})
        new = endpoint(svc, "/work").chain
        assert new is not old
        b = asyncio.create_task(client.get("/work"))
        c = asyncio.create_task(client.get("/work"))
        await gate.wait_for(3)  # the new chain admitted two, although A still holds the old slot
        d = await client.get("/work")
        assert d.status_code == 503
        assert "2 requests already in flight" in d.json()["message"]

        gate.release.set()
        assert [(await t).status_code for t in (a, b, c)] == [200, 200, 200]
    assert (concurrency(old).in_flight, concurrency(new).in_flight) == (0, 0)


def test_recompile_unknown_route_is_config_error() -> None:
    """A policy for a route that does not exist raises ConfigError naming ``$.routes[...]``."""
    svc, _ = gated_service(Policy())
    with pytest.raises(ConfigError) as info:
        svc.recompile({"GET /nope": Policy()})
    assert info.value.path == '$.routes["GET /nope"]'
    assert "GET /nope" in str(info.value)


def test_recompile_accepts_path_only_keys() -> None:
    """A key without a method (``"/work"``) applies to every method on that path."""
    svc, _ = gated_service(Policy(max_conns=1))
    svc.recompile({"/work": Policy(max_conns=7)})
    assert endpoint(svc, "/work").chain.policy.max_conns == 7


def test_recompile_default_spares_routes_with_their_own_policy() -> None:
    """A new default applies to routes without a policy in code, not to those with one."""
    svc = Service("gov")
    svc.get("/plain")(lambda: None)
    svc.get("/own", policy=Policy(max_conns=3))(lambda: None)
    svc.recompile(default=Policy(max_conns=9))
    assert endpoint(svc, "/plain").chain.policy.max_conns == 9
    assert endpoint(svc, "/own").chain.policy.max_conns == 3
    assert endpoint(svc, "/healthz").chain.policy.metrics is False  # built-ins stay BARE


def test_recompile_is_all_or_nothing() -> None:
    """If compiling any route fails, no route's chain is swapped."""

    def picky(policy: Policy, ctx: CompileContext) -> None:
        if ctx.target == "/b" and policy.max_conns == 5:
            raise ValueError("no")

    svc = Service("gov", check_factories=[("max_conns", picky)])
    svc.get("/a")(lambda: None)
    svc.get("/b")(lambda: None)
    before = {ep.route: ep.chain for ep in svc.endpoints()}
    with pytest.raises(ConfigError, match="no") as info:
        svc.recompile(default=Policy(max_conns=5))
    assert info.value.path == '$.routes["GET /b"].max_conns'
    assert {ep.route: ep.chain for ep in svc.endpoints()} == before


def test_failed_recompile_keeps_the_default_policy() -> None:
    """A recompile that fails leaves the service's default policy as it was."""

    def picky(policy: Policy, ctx: CompileContext) -> None:
        if policy.max_conns == 5:
            raise ValueError("no")

    svc = Service("gov", check_factories=[("max_conns", picky)])
    svc.get("/a")(lambda: None)
    version = svc.governor.rules.current
    with pytest.raises(ConfigError, match="no"):
        svc.recompile(default=Policy(max_conns=5))
    assert svc.governor.rules.current is version
    svc.get("/later")(lambda: None)  # routes added afterwards still get the old default
    assert endpoint(svc, "/later").chain.policy.max_conns == 10_000
