"""Prometheus view of every governance resource: one family per primitive kind and statistic.

Reads only :meth:`Registry.snapshot` (each resource's frozen ``statistics()``) at scrape time;
nothing here runs per call. A statistic ``tokens`` of a ``token_bucket`` becomes the gauge
``seawall_token_bucket_tokens{route,method,check}``; monotonic counts (admitted, rejected,
dropped...) become counters (``..._total``); booleans are 0/1 gauges; a text statistic (a mode)
becomes a gauge of 1 with the text as a label. Labels are bounded: route templates, methods and
check names, never raw paths or client keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Final, final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from seawall.governance._registry import ResourceSnapshot

__all__ = ["COUNTER_FIELDS", "GovernanceCollector"]

#: Statistics that only ever grow, exported as counters.
COUNTER_FIELDS: Final = frozenset(
    {
        "admitted",
        "rejected",
        "dropped",
        "passed",
        "evicted",
        "timed_out",
        "fallbacks",
        "recoveries",
        "timeouts",
        "errors",
        "failed_probes",
        "remote_decisions",
        "local_decisions",
        "calls",
        "failures",
        "transitions",
        "succeeded",
        "ignored",
        "checked",
        "stalls",
        "slow_calls",
        "round_trips",
        "leased",
        "returned",
    }
)
_LABELS: Final = ("route", "method", "check")


@final
class GovernanceCollector(Collector):
    """Exports ``snapshot()`` (a registry's, or several) as Prometheus families."""

    def __init__(self, snapshot: Callable[[], tuple[ResourceSnapshot, ...]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for snap in self._snapshot():
            stats = snap.statistics
            if not dataclasses.is_dataclass(stats):
                continue
            info = snap.info
            labels = [info.target, info.method, info.check]
            for field in dataclasses.fields(stats):
                value = getattr(stats, field.name)
                name = f"seawall_{info.kind}_{field.name}"
                if isinstance(value, str):
                    family = families.get(name)
                    if family is None:
                        family = families[name] = GaugeMetricFamily(
                            name,
                            f"{info.kind} {field.name} (1 for the current value).",
                            labels=[*_LABELS, field.name],
                        )
                    family.add_metric([*labels, value], 1)
                    continue
                if not isinstance(value, int | float):
                    continue
                family = families.get(name)
                if family is None:
                    if field.name in COUNTER_FIELDS:
                        family = CounterMetricFamily(name, f"{info.kind}: {field.name}.", labels=_LABELS)
                    else:
                        family = GaugeMetricFamily(name, f"{info.kind}: {field.name}.", labels=_LABELS)
                    families[name] = family
                family.add_metric(labels, float(value))
        yield from families.values()
