"""seawall: a Python microservice framework with overload protection built in.

The public surface is re-exported here; implementation lives in private modules.
"""

from __future__ import annotations

from seawall._clock import MONOTONIC, Clock, MonotonicClock
from seawall.errors import (
    ConfigError,
    HTTPError,
    Rejected,
    SeawallError,
)
from seawall.governance import (
    AdaptiveConcurrencyPolicy,
    BreakerPolicy,
    BulkheadPolicy,
    HotspotPolicy,
    LoopPolicy,
    PacingPolicy,
    Policy,
    PriorityPolicy,
    QueueDelayPolicy,
    RateLimitPolicy,
    SheddingPolicy,
    WarmUpPolicy,
    WindowPolicy,
)
from seawall.http import (
    BARE,
    DEFAULT_POLICY,
    Header,
    Request,
    Response,
    SeawallMiddleware,
    Service,
)

__all__ = [
    "BARE",
    "DEFAULT_POLICY",
    "MONOTONIC",
    "AdaptiveConcurrencyPolicy",
    "BreakerPolicy",
    "BulkheadPolicy",
    "Clock",
    "ConfigError",
    "HTTPError",
    "Header",
    "HotspotPolicy",
    "LoopPolicy",
    "MonotonicClock",
    "PacingPolicy",
    "Policy",
    "PriorityPolicy",
    "QueueDelayPolicy",
    "RateLimitPolicy",
    "Rejected",
    "Request",
    "Response",
    "SeawallError",
    "SeawallMiddleware",
    "Service",
    "SheddingPolicy",
    "WarmUpPolicy",
    "WindowPolicy",
]

__version__ = "0.1.0"
