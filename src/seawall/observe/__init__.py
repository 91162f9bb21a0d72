"""Operations: the Prometheus view of a service (request metrics, governance state).

The counters themselves are accumulated by the transport (``seawall.http``), which owns the
request path; this package re-exports them for operations tooling and will grow runtime metrics,
tracing and debug endpoints. It reads primitives' ``statistics()`` snapshots and never changes
governance decisions.
"""

from __future__ import annotations

from seawall.http._governance_metrics import GovernanceCollector
from seawall.http._metrics import DURATION_BUCKETS, MetricsDir, RequestMetrics, RouteStats
from seawall.observe._runtime import (
    GC_PAUSE_BUCKETS,
    LOOP_LAG_BUCKETS,
    GcMonitor,
    GcStatistics,
    GenerationSnapshot,
    GenerationStatistics,
    LoopLagSampler,
    LoopLagStatistics,
    ProcessReader,
    ProcessSample,
    RuntimeCollector,
    RuntimeDir,
    RuntimeSnapshot,
    read_cgroup_memory_limit,
)

__all__ = [
    "DURATION_BUCKETS",
    "GC_PAUSE_BUCKETS",
    "LOOP_LAG_BUCKETS",
    "GcMonitor",
    "GcStatistics",
    "GenerationSnapshot",
    "GenerationStatistics",
    "GovernanceCollector",
    "LoopLagSampler",
    "LoopLagStatistics",
    "MetricsDir",
    "ProcessReader",
    "ProcessSample",
    "RequestMetrics",
    "RouteStats",
    "RuntimeCollector",
    "RuntimeDir",
    "RuntimeSnapshot",
    "read_cgroup_memory_limit",
]
