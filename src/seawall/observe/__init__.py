"""Operations: the Prometheus view of a service (request metrics, governance state).

The counters themselves are accumulated by the transport (``seawall.http``), which owns the
request path, and governance state is exported from :meth:`seawall.governance.Registry.snapshot`;
this package re-exports them for operations tooling and grows runtime metrics, tracing and debug
endpoints. It reads primitives' ``statistics()`` snapshots and never changes governance decisions.
"""

from __future__ import annotations

from seawall.governance import GovernanceCollector
from seawall.http._metrics import DURATION_BUCKETS, MetricsDir, RequestMetrics, RouteStats

__all__ = ["DURATION_BUCKETS", "GovernanceCollector", "MetricsDir", "RequestMetrics", "RouteStats"]
