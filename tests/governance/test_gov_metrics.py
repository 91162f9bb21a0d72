"""Governance metrics at ``/metrics``: rejections counted by route, reason and check."""

from __future__ import annotations

from tests.governance.gov_support import client, labels, samples

from seawall import Policy, RateLimitPolicy, Service
from seawall.testing import MockClock

REJECTED = "seawall_http_server_rejected_total"
REQUESTS = "seawall_http_server_requests_total"


async def test_rate_limit_rejections_are_counted(mock_clock: MockClock) -> None:
    """Three 429s on ``/x`` count 3 under check="rate_limit", reason="RATE_LIMITED", route="/x"."""
    svc = Service("metrics", clock=mock_clock)

    @svc.get("/x", policy=Policy(rate_limit=RateLimitPolicy(rate=1, burst=2)))
    async def x() -> dict[str, bool]:
        return {"ok": True}

    async with client(svc) as c:
        for _ in range(5):
            await c.get("/x")
        text = (await c.get("/metrics")).text
    rejected = samples(text, REJECTED)
    key = labels(check="rate_limit", method="GET", reason="RATE_LIMITED", route="/x")
    assert rejected == {key: 3}
    requests = samples(text, REQUESTS)
    assert requests[labels(code="200", method="GET", route="/x")] == 2
    assert requests[labels(code="429", method="GET", route="/x")] == 3


async def test_admitted_requests_count_no_rejection(mock_clock: MockClock) -> None:
    """Under its limit a route has no rejected samples."""
    svc = Service("metrics", clock=mock_clock)

    @svc.get("/x", policy=Policy(rate_limit=RateLimitPolicy(rate=1, burst=5)))
    async def x() -> dict[str, bool]:
        return {"ok": True}

    async with client(svc) as c:
        await c.get("/x")
        text = (await c.get("/metrics")).text
    assert samples(text, REJECTED) == {}
