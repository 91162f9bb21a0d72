"""Two corrections from the overload issue's review, pinned: an incoming deadline applies to a
route without a timeout of its own, and a check's compile-time error names the leaf field."""

from __future__ import annotations

import asyncio

import pytest
from tests.governance.gov_support import client

from seawall import ConfigError, Policy, Service
from seawall.http._config import SeawallConfig
from seawall.testing import MockClock

HEADER = "x-seawall-deadline-ms"


async def test_incoming_deadline_applies_to_a_route_without_a_timeout(mock_clock: MockClock) -> None:
    """``timeout=None`` means no deadline of the route's own; the caller's 500 ms still cancels
    the handler with 504 at 0.5 s."""
    svc = Service("deadline", clock=mock_clock)
    entered = asyncio.Event()
    events: list[str] = []

    @svc.get("/hang", policy=Policy(timeout=None))
    async def hang() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async with client(svc) as c:
        task = asyncio.create_task(c.get("/hang", headers={HEADER: "500"}))
        await entered.wait()
        mock_clock.jump(0.49)
        assert svc.governor.wheel.tick() == 0
        mock_clock.jump(0.02)
        assert svc.governor.wheel.tick() == 1
        r = await task
    assert r.status_code == 504
    assert r.json()["reason"] == "DEADLINE_EXCEEDED"
    assert events == ["cancelled"]


@pytest.mark.parametrize(
    ("rules", "path"),
    [
        ({"rate_limit": {"rate": 5, "key": "fn:nope"}}, '$.routes["GET /x"].rate_limit.key'),
        ({"window": {"limit": 5, "window": 1, "key": "fn:nope"}}, '$.routes["GET /x"].window.key'),
        (
            {"priority": {"shares": {"a": 1}, "default": "a", "key": "fn:nope"}},
            '$.routes["GET /x"].priority.key',
        ),
        ({"queue_delay": {"target": 0.01, "interval": 0.005}}, '$.routes["GET /x"].queue_delay.interval'),
    ],
)
def test_a_checks_compile_error_names_the_leaf(rules: dict[str, object], path: str) -> None:
    """An error a check's factory finds (a key function that is not registered) names the field
    inside the section, not just the route."""
    svc = Service("leaf")
    svc.get("/x")(lambda: None)
    with pytest.raises(ConfigError) as info:
        svc.configure(SeawallConfig(routes={"GET /x": rules}))
    assert info.value.path == path
