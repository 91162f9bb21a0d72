"""Governance state in Prometheus: every resource's statistics() as bounded families."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from tests.governance.gov_support import labels, samples

from seawall import Policy, RateLimitPolicy, Service, SheddingPolicy
from seawall.governance import GovernanceCollector, ResourceInfo, ResourceSnapshot
from seawall.load import FixedCpuProbe


@dataclass(frozen=True)
class FakeStats:
    admitted: int
    tokens: float
    overloaded: bool
    mode: str


def exposition(*snaps: ResourceSnapshot) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GovernanceCollector(lambda: snaps))
    return generate_latest(registry).decode()


def test_fields_become_counters_gauges_and_labelled_modes() -> None:
    """Counts are counters, numbers and booleans gauges, text a 1-valued gauge labelled with it."""
    info = ResourceInfo("widget", "/x", "GET", "rate_limit")
    stats = FakeStats(admitted=3, tokens=1.5, overloaded=True, mode="redis")
    text = exposition(ResourceSnapshot(info, stats))
    at = {"route": "/x", "method": "GET", "check": "rate_limit"}
    assert samples(text, "seawall_widget_admitted_total")[labels(**at)] == 3
    assert samples(text, "seawall_widget_tokens")[labels(**at)] == 1.5
    assert samples(text, "seawall_widget_overloaded")[labels(**at)] == 1
    assert samples(text, "seawall_widget_mode")[labels(**at, mode="redis")] == 1
    assert "# TYPE seawall_widget_admitted_total counter" in text


def test_statistics_that_are_not_dataclasses_are_skipped() -> None:
    """Only frozen dataclass snapshots are exported; anything else is ignored, not a scrape error."""
    text = exposition(ResourceSnapshot(ResourceInfo("odd"), {"not": "a dataclass"}))
    assert "seawall_odd" not in text


async def test_a_service_exports_its_limiters_and_shared_shedder() -> None:
    """A route's token bucket and the service-wide shedder appear with route/method/check labels."""
    svc = Service("exported", cpu_probe=FixedCpuProbe(0))
    policy = Policy(rate_limit=RateLimitPolicy(rate=7, burst=7), shedding=SheddingPolicy())
    svc.get("/x", policy=policy)(lambda: None)
    text = generate_latest(svc.registry).decode()
    assert (
        samples(text, "seawall_token_bucket_tokens")[labels(route="/x", method="GET", check="rate_limit")]
        == 7
    )
    assert labels(route="", method="", check="shedding:900") in samples(text, "seawall_shedder_in_flight")
    assert labels(route="/x", method="GET", check="concurrency") in samples(text, "seawall_concurrency_limit")
