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
from seawall.http import BARE, DEFAULT_POLICY, Header, Policy, Request, Response, Service

__all__ = [
    "BARE",
    "DEFAULT_POLICY",
    "MONOTONIC",
    "Clock",
    "ConfigError",
    "HTTPError",
    "Header",
    "MonotonicClock",
    "Policy",
    "Rejected",
    "Request",
    "Response",
    "SeawallError",
    "Service",
]

__version__ = "0.1.0"
