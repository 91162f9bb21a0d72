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

__all__ = [
    "MONOTONIC",
    "Clock",
    "ConfigError",
    "HTTPError",
    "MonotonicClock",
    "Rejected",
    "SeawallError",
]

__version__ = "0.1.0"
