"""Operations: the Prometheus view of a service (request metrics, governance state).

The counters themselves are accumulated by the transport (``seawall.http``), which owns the
request path, and governance state is exported from :meth:`seawall.governance.Registry.snapshot`;
this package re-exports them for operations tooling and grows runtime metrics, tracing and debug
endpoints. It reads primitives' ``statistics()`` snapshots and never changes governance decisions.
"""

from __future__ import annotations

from seawall.governance import GovernanceCollector
from seawall.http._metrics import DURATION_BUCKETS, MetricsDir, RequestMetrics, RouteStats
from seawall.observe._debug import (
    AdminGate,
    CpuProfiler,
    DebugResponse,
    HeapTracker,
    ProfileBusy,
    check_admin,
    config_dump,
    gc_stats,
    heap,
    is_loopback,
    profile,
    redact_config,
    tasks,
    threads,
)
from seawall.observe._gc import GC_PAUSE_BUCKETS, GcMonitor, GcStatistics, GenerationStatistics
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
from seawall.observe._loop_lag import LOOP_LAG_BUCKETS, LoopLagSampler, LoopLagStatistics
from seawall.observe._process import ProcessReader, ProcessSample, read_cgroup_memory_limit
from seawall.observe._runtime import RuntimeCollector
from seawall.observe._runtime_dir import GenerationSnapshot, RuntimeDir, RuntimeSnapshot
from seawall.observe._tracing import (
    ServerSpan,
    Tracing,
    TracingStatistics,
    incoming_trace_id,
    parse_traceparent,
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
    "AdminGate",
    "ConsoleFormatter",
    "CpuProfiler",
    "DebugResponse",
    "GcMonitor",
    "GcStatistics",
    "GenerationSnapshot",
    "GenerationStatistics",
    "GovernanceCollector",
    "HeapTracker",
    "JsonFormatter",
    "LoopLagSampler",
    "LoopLagStatistics",
    "MetricsDir",
    "ProcessReader",
    "ProcessSample",
    "ProfileBusy",
    "RedactionFilter",
    "Redactor",
    "RequestMetrics",
    "RouteStats",
    "RuntimeCollector",
    "RuntimeDir",
    "RuntimeSnapshot",
    "ServerSpan",
    "SlowRequestLog",
    "SlowRequestStatistics",
    "Tracing",
    "TracingStatistics",
    "check_admin",
    "config_dump",
    "configure_logging",
    "gc_stats",
    "heap",
    "incoming_trace_id",
    "is_loopback",
    "parse_traceparent",
    "profile",
    "read_cgroup_memory_limit",
    "redact_config",
    "tasks",
    "threads",
]
