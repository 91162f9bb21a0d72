"""The HTTP transport: the ASGI service, routing, typed parameters, and the ASGI middleware.

Both entry points run calls through :class:`seawall.governance.Guard`; this package supplies the
transport side only (how a request is read and an answer is sent). It must not reach into
primitives: governance state belongs to :mod:`seawall.governance`.
"""

from __future__ import annotations

from seawall.http._endpoint import Endpoint
from seawall.http._middleware import SeawallMiddleware
from seawall.http._params import Header
from seawall.http._policy import BARE, DEFAULT_POLICY, MAX_BODY
from seawall.http._request import Request
from seawall.http._response import Response
from seawall.http._service import Service

__all__ = [
    "BARE",
    "DEFAULT_POLICY",
    "MAX_BODY",
    "Endpoint",
    "Header",
    "Request",
    "Response",
    "SeawallMiddleware",
    "Service",
]
