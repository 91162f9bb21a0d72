"""Calling other services: an ``httpx`` transport that governs outbound calls.

Users keep ``httpx.AsyncClient`` and call logical names (``http://inventory/items/1``); the
:class:`SeawallTransport` does, per call: deadline check -> discovery -> balancing (p2c-EWMA by
default) -> the dependency's bulkhead and circuit breaker -> the attempt, with the remaining
deadline as its timeout and in ``X-Seawall-Deadline-Ms`` -> classification -> retry within the
budget (another instance, idempotent calls only, never with too little time left) -> metrics.
It forwards the deadline, the call chain (``X-Seawall-Call-Chain``, for loop detection
downstream) and the trace context. ``service.client("inventory")`` builds one from the
``dependencies:`` section of ``seawall.yaml``.

Everything stateful is a primitive from ``seawall.breaker``, ``seawall.retry``,
``seawall.discovery`` and ``seawall.bulkhead``, run through the same guarded path
(:class:`~seawall.governance.Guard`) and checks as a server route. This package adapts them to
httpx and nothing else: it must not implement a limit, breaker or balancer of its own, nor reach
into the server's request path (it reads the server's configuration schema only).
"""

from __future__ import annotations

from seawall.http._config import DependencyConfig, DNSConfig, OutlierPolicy
from seawall.http.client._call import OutboundCall
from seawall.http.client._classify import classify_response
from seawall.http.client._dependency import BalancerKind, ClientFallback, Dependency
from seawall.http.client._metrics import DURATION_BUCKETS, ClientMetrics, DependencyStatistics
from seawall.http.client._transport import SeawallTransport
from seawall.http.client._upstream import Upstream

__all__ = [
    "DURATION_BUCKETS",
    "BalancerKind",
    "ClientFallback",
    "ClientMetrics",
    "DNSConfig",
    "Dependency",
    "DependencyConfig",
    "DependencyStatistics",
    "OutboundCall",
    "OutlierPolicy",
    "SeawallTransport",
    "Upstream",
    "classify_response",
]
