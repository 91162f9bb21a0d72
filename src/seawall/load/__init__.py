"""Adaptive load shedding: drop requests early when the process is overloaded.

:class:`AdaptiveShedder` follows go-zero's ``core/load`` and Kratos/aegis ``ratelimit/bbr``;
:class:`NoopShedder` is its no-op twin. The CPU signal comes from a :class:`CpuProbe`:
:class:`ProcessCpuProbe` in production, :class:`FixedCpuProbe` in tests.
"""

from __future__ import annotations

from seawall.load._adaptive import AdaptiveShedder
from seawall.load._base import Shedder, ShedderStatistics, ShedTicket
from seawall.load._codel import CoDel, CoDelStatistics, NoopCoDel, QueueDelayGate
from seawall.load._cpu import CpuProbe, FixedCpuProbe, ProcessCpuProbe, read_cgroup_cpu_limit
from seawall.load._gradient import Gradient2Limit, Gradient2LimitStatistics
from seawall.load._limit import FixedLimit, Limit
from seawall.load._limiter import (
    AdaptiveConcurrencyLimiter,
    ConcurrencyLimiterStatistics,
    LimitTicket,
    NoopConcurrencyLimiter,
    PartitionedLimiter,
    PartitionStatistics,
    default_limit,
)
from seawall.load._noop import NoopShedder
from seawall.load._vegas import VegasLimit, VegasLimitStatistics

__all__ = [
    "AdaptiveConcurrencyLimiter",
    "AdaptiveShedder",
    "CoDel",
    "CoDelStatistics",
    "ConcurrencyLimiterStatistics",
    "CpuProbe",
    "FixedCpuProbe",
    "FixedLimit",
    "Gradient2Limit",
    "Gradient2LimitStatistics",
    "Limit",
    "LimitTicket",
    "NoopCoDel",
    "NoopConcurrencyLimiter",
    "NoopShedder",
    "PartitionStatistics",
    "PartitionedLimiter",
    "ProcessCpuProbe",
    "QueueDelayGate",
    "ShedTicket",
    "Shedder",
    "ShedderStatistics",
    "VegasLimit",
    "VegasLimitStatistics",
    "default_limit",
    "read_cgroup_cpu_limit",
]
