"""Operations: the Prometheus view of a service (request metrics, governance state).

The counters themselves are accumulated by the transport (``seawall.http``), which owns the
request path; this package re-exports them for operations tooling and will grow runtime metrics,
tracing and debug endpoints. It reads primitives' ``statistics()`` snapshots and never changes
governance decisions.
"""

from __future__ import annotations

from seawall.http._governance_metrics import GovernanceCollector
from seawall.http._metrics import DURATION_BUCKETS, MetricsDir, RequestMetrics, RouteStats
from seawall.observe._logging import (
    REDACTED,
    SECRET_FIELDS,
    TRACE_ID,
    AccessLog,
    AccessLogStatistics,
    ConsoleFormatter,
    JsonFormatter,
    RedactionFilter,
    Redactor,
    SlowRequestLog,
    SlowRequestStatistics,
    configure_logging,
)
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
    "REDACTED",
    "SECRET_FIELDS",
    "TRACE_ID",
    "AccessLog",
    "AccessLogStatistics",
    "ConsoleFormatter",
    "GcMonitor",
    "GcStatistics",
    "GenerationSnapshot",
    "GenerationStatistics",
    "GovernanceCollector",
    "JsonFormatter",
    "LoopLagSampler",
    "LoopLagStatistics",
    "MetricsDir",
    "ProcessReader",
    "ProcessSample",
    "RedactionFilter",
    "Redactor",
    "RequestMetrics",
    "RouteStats",
    "RuntimeCollector",
    "RuntimeDir",
    "RuntimeSnapshot",
    "SlowRequestLog",
    "SlowRequestStatistics",
    "configure_logging",
    "read_cgroup_memory_limit",
]
