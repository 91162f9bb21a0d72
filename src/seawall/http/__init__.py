"""The HTTP transport: the ASGI service, routing, typed parameters and the governance chain.

It must not reach into primitives' internals: checks read and drive primitives through their
public methods only.
"""

from __future__ import annotations

from seawall.http._chain import AsyncCheck, Chain, Check, CheckFactory, ConcurrencyCheck, Exit, RouteInfo
from seawall.http._checks import Governance, key_function
from seawall.http._middleware import SeawallMiddleware
from seawall.http._params import Header
from seawall.http._policy import (
    BARE,
    DEFAULT_POLICY,
    BulkheadPolicy,
    HotspotPolicy,
    PacingPolicy,
    Policy,
    RateLimitPolicy,
    SheddingPolicy,
    WarmUpPolicy,
    WindowPolicy,
)
from seawall.http._request import Request
from seawall.http._response import Response
from seawall.http._service import Endpoint, Fallback, Service

__all__ = [
    "BARE",
    "DEFAULT_POLICY",
    "AsyncCheck",
    "BulkheadPolicy",
    "Chain",
    "Check",
    "CheckFactory",
    "ConcurrencyCheck",
    "Endpoint",
    "Exit",
    "Fallback",
    "Governance",
    "Header",
    "HotspotPolicy",
    "PacingPolicy",
    "Policy",
    "RateLimitPolicy",
    "Request",
    "Response",
    "RouteInfo",
    "SeawallMiddleware",
    "Service",
    "SheddingPolicy",
    "WarmUpPolicy",
    "WindowPolicy",
    "key_function",
]
