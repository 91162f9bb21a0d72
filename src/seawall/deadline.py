"""Deadline propagation: the time left for the current request, for handlers and outbound calls.

A request's effective deadline is ``min(route timeout, incoming X-Seawall-Deadline-Ms)``. The
header carries the *remaining* budget in milliseconds (relative, like gRPC's ``grpc-timeout``, so
callers' and callees' clocks never need to agree). While a handler runs, :func:`remaining` says how
much of it is left; an outbound client forwards that (minus what it has used) in the same header.
This module holds only the context variable and header helpers; the server enforces deadlines.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from seawall.governance._timeouts import Watch

__all__ = ["DEADLINE_HEADER", "current", "parse_header", "remaining"]

#: Request header with the caller's remaining budget in milliseconds (an integer or decimal).
DEADLINE_HEADER: Final = "x-seawall-deadline-ms"
_HEADER_BYTES: Final = DEADLINE_HEADER.encode()

_current: ContextVar[Watch | None] = ContextVar("seawall_deadline", default=None)


def current() -> Watch | None:
    """The watch of the request being handled in this task, if it has a deadline."""
    return _current.get()


def remaining() -> float | None:
    """Seconds left before the current request's deadline (may be <= 0), or ``None`` without one."""
    w = _current.get()
    return None if w is None else w.remaining()


def parse_header(headers: list[tuple[bytes, bytes]]) -> float | None:
    """The incoming deadline in seconds, or ``None`` when absent or unparseable (ignored, not fatal)."""
    for name, value in headers:
        if name == _HEADER_BYTES:
            try:
                return float(value) / 1000.0
            except ValueError:
                return None
    return None
