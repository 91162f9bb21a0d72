"""Prometheus view of the shared governance state: shedders and distributed limiters.

Reads only ``statistics()`` snapshots, at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["GovernanceCollector"]


class _Source(Protocol):
    @property
    def redis_limiters(self) -> Sequence[Any]: ...

    def shedders(self) -> Mapping[int, Any]: ...


@final
class GovernanceCollector(Collector):
    """Families: ``seawall_shedder_*{threshold}`` and ``seawall_ratelimit_redis_*{key}``."""

    def __init__(self, source: _Source) -> None:
        self._source = source

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        cpu = GaugeMetricFamily(
            "seawall_shedder_cpu_usage_permille", "CPU signal the shedder sees.", labels=["threshold"]
        )
        in_flight = GaugeMetricFamily(
            "seawall_shedder_in_flight", "Requests in flight.", labels=["threshold"]
        )
        max_flight = GaugeMetricFamily(
            "seawall_shedder_max_flight", "Estimated capacity maxPass x minRT.", labels=["threshold"]
        )
        dropped = CounterMetricFamily("seawall_shedder_dropped", "Requests shed.", labels=["threshold"])
        for threshold, shedder in sorted(self._source.shedders().items()):
            s = shedder.statistics()
            label = [str(threshold)]
            cpu.add_metric(label, s.cpu)
            in_flight.add_metric(label, s.in_flight)
            max_flight.add_metric(label, s.max_flight)
            dropped.add_metric(label, s.dropped)
        fallbacks = CounterMetricFamily(
            "seawall_ratelimit_redis_fallbacks", "Switches to the local fallback limiter.", labels=["key"]
        )
        remote = GaugeMetricFamily(
            "seawall_ratelimit_redis_up",
            "1 while decisions are made in Redis, 0 while local.",
            labels=["key"],
        )
        for limiter in self._source.redis_limiters:
            s = limiter.statistics()
            key = [str(limiter.key)]
            fallbacks.add_metric(key, s.fallbacks)
            remote.add_metric(key, 1 if s.mode == "redis" else 0)
        yield from (cpu, in_flight, max_flight, dropped, fallbacks, remote)
