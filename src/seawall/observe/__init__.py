"""Operations: request metrics and their Prometheus exposition.

Metrics are accumulated in plain per-route counters on the hot path and turned into Prometheus
families only when scraped. This package reads primitives' ``statistics()`` snapshots and never
changes governance decisions.
"""

from __future__ import annotations

from seawall.observe._governance import GovernanceCollector
from seawall.observe._metrics import (
    DURATION_BUCKETS,
    MetricsDir,
    RequestMetrics,
    RouteStats,
)

__all__ = ["DURATION_BUCKETS", "GovernanceCollector", "MetricsDir", "RequestMetrics", "RouteStats"]
