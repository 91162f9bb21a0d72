"""Operations: what makes a service visible — metrics, runtime metrics, traces, logs, debugging.

- Request counters are accumulated by the transport (``seawall.http``), which owns the request
  path; governance state is exported from :meth:`seawall.governance.Registry.snapshot`; this
  package re-exports both for operations tooling.
- Runtime metrics (:class:`RuntimeMonitor`: GC, event-loop lag, threads, tasks, CPU, memory,
  descriptors, container limits) per worker; :class:`BuildInfoCollector`.
- Tracing (:class:`Tracing`, OpenTelemetry, the ``otel`` extra) and request logs
  (:func:`configure_logging`, :class:`AccessLog`, :class:`SlowRequestLog`), joined per request
  by :class:`RequestObserver`, the guard's observer.
- The troubleshooting endpoints' implementations (:func:`profile`, :func:`heap`, :func:`tasks`,
  :func:`threads`, :func:`gc_stats`, :func:`config_dump`) and who may call them (:class:`AdminGate`).

It reads primitives' ``statistics()`` snapshots and never changes a governance decision or an
answer; nothing here costs a request anything unless its configuration turns it on.
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
from seawall.observe._observer import RequestObserver
from seawall.observe._process import ProcessReader, ProcessSample, read_cgroup_memory_limit
from seawall.observe._runtime import RuntimeCollector
from seawall.observe._runtime_dir import GenerationSnapshot, RuntimeDir, RuntimeSnapshot
from seawall.observe._telemetry import SERVER_ENV, BuildInfoCollector, RuntimeMonitor
from seawall.observe._tracing import (
    ServerSpan,
    TraceObserver,
    Tracing,
    TracingStatistics,
    incoming_trace_id,
    otlp_exporter,
    parse_traceparent,
)

__all__ = [
    "DURATION_BUCKETS",
    "GC_PAUSE_BUCKETS",
    "LOOP_LAG_BUCKETS",
    "REDACTED",
    "SECRET_FIELDS",
    "SERVER_ENV",
    "TRACE_ID",
    "AccessLog",
    "AccessLogStatistics",
    "AdminGate",
    "BuildInfoCollector",
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
    "RequestObserver",
    "RouteStats",
    "RuntimeCollector",
    "RuntimeDir",
    "RuntimeMonitor",
    "RuntimeSnapshot",
    "ServerSpan",
    "SlowRequestLog",
    "SlowRequestStatistics",
    "TraceObserver",
    "Tracing",
    "TracingStatistics",
    "check_admin",
    "config_dump",
    "configure_logging",
    "gc_stats",
    "heap",
    "incoming_trace_id",
    "is_loopback",
    "otlp_exporter",
    "parse_traceparent",
    "profile",
    "read_cgroup_memory_limit",
    "redact_config",
    "tasks",
    "threads",
]
