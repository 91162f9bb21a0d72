"""Adaptive load shedding: drop requests early when the process is overloaded.

:class:`AdaptiveShedder` follows go-zero's ``core/load`` and Kratos/aegis ``ratelimit/bbr``;
:class:`NoopShedder` is its no-op twin. The CPU signal comes from a :class:`CpuProbe`:
:class:`ProcessCpuProbe` in production, :class:`FixedCpuProbe` in tests.
"""

from __future__ import annotations

from seawall.load._adaptive import AdaptiveShedder
from seawall.load._base import Shedder, ShedderStatistics, ShedTicket
from seawall.load._cpu import CpuProbe, FixedCpuProbe, ProcessCpuProbe, read_cgroup_cpu_limit
from seawall.load._noop import NoopShedder

__all__ = [
    "AdaptiveShedder",
    "CpuProbe",
    "FixedCpuProbe",
    "NoopShedder",
    "ProcessCpuProbe",
    "ShedTicket",
    "Shedder",
    "ShedderStatistics",
    "read_cgroup_cpu_limit",
]
