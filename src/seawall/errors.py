"""One exception tree for seawall, the registry of stable error reasons, and the JSON error body.

::

    SeawallError                      root of everything seawall raises
    ├── ConfigError                   invalid configuration, raised at start with the field's path
    └── HTTPError                     anything that becomes a non-2xx response (has status/reason/code)
        ├── BadRequest                400 INVALID_INPUT
        │   ├── MalformedBody         400 MALFORMED_BODY    (not decodable JSON)
        │   └── ValidationFailed      400 VALIDATION_FAILED (decodable, but a field is wrong)
        ├── Unauthorized              401 UNAUTHENTICATED
        ├── Forbidden                 403 FORBIDDEN
        ├── NotFound                  404 NOT_FOUND
        ├── MethodNotAllowed          405 METHOD_NOT_ALLOWED (carries ``Allow``)
        ├── PayloadTooLarge           413 BODY_TOO_LARGE
        ├── (seawall.observe.ProfileBusy) 409 PROFILE_BUSY (a debug CPU profile is already running)
        ├── InternalError             500 INTERNAL (never carries a traceback)
        └── Rejected                  governance said no; the request did not run (or was cut off)
            ├── RateLimited           429 RATE_LIMITED       (carries ``Retry-After``)
            ├── Overloaded            503 OVERLOADED         (shed, concurrency, bulkhead; ``Retry-After``)
            ├── CircuitOpen           503 CIRCUIT_OPEN       (``Retry-After``)
            ├── DeadlineExceeded      504 DEADLINE_EXCEEDED
            └── LoopDetected          508 LOOP_DETECTED

Every error body seawall produces is the JSON object ``{"code", "reason", "message"[, "details"]
[, "trace_id"]}``; ``trace_id`` is :data:`TRACE_ID` of the request being answered unless given.
``reason`` strings and numeric ``code`` values are stable: they are part of the
public surface, listed in :data:`REASONS`, and never reused for a different meaning.

This module must stay free of I/O and of any server or framework import.
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from typing import Any, ClassVar, Final, final

import msgspec

__all__ = [
    "REASONS",
    "TRACE_ID",
    "BadRequest",
    "CircuitOpen",
    "ConfigError",
    "DeadlineExceeded",
    "ErrorBody",
    "Forbidden",
    "HTTPError",
    "InternalError",
    "LoopDetected",
    "MalformedBody",
    "MethodNotAllowed",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "RateLimited",
    "Reason",
    "Rejected",
    "SeawallError",
    "Unauthorized",
    "ValidationFailed",
    "error_body",
]


@final
class Reason(msgspec.Struct, frozen=True):
    """A registered error reason: its stable numeric code and HTTP status."""

    reason: str
    code: int
    status: int
    description: str


#: Every reason seawall emits, by reason string. Codes are ``status * 100 + n``.
REASONS: Final[dict[str, Reason]] = {
    r.reason: r
    for r in (
        Reason("INVALID_INPUT", 40000, 400, "The request is not acceptable as sent."),
        Reason("MALFORMED_BODY", 40001, 400, "The body could not be decoded."),
        Reason("VALIDATION_FAILED", 40002, 400, "A field has the wrong type or value."),
        Reason("UNAUTHENTICATED", 40100, 401, "Credentials are missing or invalid."),
        Reason("FORBIDDEN", 40300, 403, "The caller may not do this."),
        Reason("NOT_FOUND", 40400, 404, "No route matches the path."),
        Reason("METHOD_NOT_ALLOWED", 40500, 405, "The route exists but not for this method."),
        Reason("PROFILE_BUSY", 40900, 409, "A CPU profile is already running; only one runs at a time."),
        Reason("BODY_TOO_LARGE", 41300, 413, "The body exceeds the route's limit."),
        Reason("RATE_LIMITED", 42900, 429, "A rate limit rejected the request."),
        Reason("INTERNAL", 50000, 500, "An unexpected error; details are in the server log."),
        Reason("OVERLOADED", 50300, 503, "The service shed the request to stay healthy."),
        Reason("CIRCUIT_OPEN", 50301, 503, "A circuit breaker is open."),
        Reason("NOT_READY", 50302, 503, "The service is starting or draining."),
        Reason("DEADLINE_EXCEEDED", 50400, 504, "The request's deadline passed."),
        Reason("LOOP_DETECTED", 50800, 508, "The call chain visits this service twice."),
    )
}


#: The trace id (32 hex digits) of the request being handled in this context, ``None`` when it has
#: none. Tracing sets it per request (for sampled requests, and for unsampled ones whose caller sent
#: a valid ``traceparent``); error bodies and log records read it. A context variable, like the
#: deadline: each request's task sees its own.
TRACE_ID: Final[ContextVar[str | None]] = ContextVar("seawall_trace_id", default=None)


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """The JSON error body of every non-2xx response seawall produces."""

    code: int
    reason: str
    message: str
    details: Any = None
    trace_id: str | None = None


_encode = msgspec.json.Encoder().encode


def error_body(reason: str, message: str, details: Any = None, trace_id: str | None = None) -> bytes:
    """Encode the error body for a registered ``reason``."""
    return _encode(ErrorBody(REASONS[reason].code, reason, message, details, trace_id))


class SeawallError(Exception):
    """Root of every exception seawall raises."""


class ConfigError(SeawallError):
    """The configuration is invalid; ``path`` names the bad field (e.g. ``$.server.port``)."""

    def __init__(self, message: str, *, path: str = "$", source: str | None = None) -> None:
        self.message = message
        self.path = path
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{message} (at {path})")


class HTTPError(SeawallError):
    """An error that becomes a non-2xx response with seawall's error body.

    Subclasses fix ``reason``; the status and numeric code come from :data:`REASONS`.
    """

    reason: ClassVar[str] = "INVALID_INPUT"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        reason: str | None = None,
    ) -> None:
        if reason is not None:
            if reason not in REASONS:
                raise ValueError(f"unknown reason {reason!r}")
            self.reason = reason  # type: ignore[misc]
        info = REASONS[self.reason]
        self.status: int = info.status
        self.code: int = info.code
        self.message: str = message if message is not None else info.description
        self.details = details
        self.headers: list[tuple[bytes, bytes]] = headers if headers is not None else []
        super().__init__(self.message)

    def body(self, trace_id: str | None = None) -> bytes:
        """The encoded JSON error body; ``trace_id`` defaults to :data:`TRACE_ID`'s value."""
        if trace_id is None:
            trace_id = TRACE_ID.get()
        return _encode(ErrorBody(self.code, self.reason, self.message, self.details, trace_id))


class BadRequest(HTTPError):
    """400: the request is not acceptable as sent."""

    reason = "INVALID_INPUT"


class MalformedBody(BadRequest):
    """400: the body is not decodable (e.g. malformed JSON)."""

    reason = "MALFORMED_BODY"


class ValidationFailed(BadRequest):
    """400: a field has the wrong type or value; ``details`` carries ``{"field": "$.path"}``."""

    reason = "VALIDATION_FAILED"


class Unauthorized(HTTPError):
    """401: credentials are missing or invalid."""

    reason = "UNAUTHENTICATED"


class Forbidden(HTTPError):
    """403: the caller is known but may not do this."""

    reason = "FORBIDDEN"


class NotFound(HTTPError):
    """404: no route matches."""

    reason = "NOT_FOUND"


class MethodNotAllowed(HTTPError):
    """405: the path matches but not the method; sets ``Allow``."""

    reason = "METHOD_NOT_ALLOWED"

    def __init__(self, allow: list[str], message: str | None = None) -> None:
        super().__init__(message, headers=[(b"allow", ", ".join(allow).encode("latin-1"))])
        self.allow = allow


class PayloadTooLarge(HTTPError):
    """413: the body exceeds the route's limit (decided before buffering it all)."""

    reason = "BODY_TOO_LARGE"


class InternalError(HTTPError):
    """500: an unexpected failure. The message is generic; the traceback goes to the log only."""

    reason = "INTERNAL"


def _retry_after(seconds: float | None) -> list[tuple[bytes, bytes]]:
    if seconds is None or not math.isfinite(seconds):  # inf: no retry would ever succeed
        return []
    # Retry-After takes whole seconds (RFC 9110 §10.2.3); round up so clients never come back early.
    return [(b"retry-after", str(max(1, math.ceil(seconds))).encode())]


class Rejected(HTTPError):
    """Governance rejected the request; subclasses say which kind.

    Args:
        message: a human-readable explanation.
        retry_after: seconds after which a retry may succeed; becomes ``Retry-After``.
        check: the name of the check that rejected (for metrics and fallbacks).
    """

    reason = "OVERLOADED"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        check: str = "",
        details: Any = None,
    ) -> None:
        super().__init__(message, details=details, headers=_retry_after(retry_after))
        self.retry_after = retry_after
        self.check = check


class RateLimited(Rejected):
    """429: a rate limit rejected the request."""

    reason = "RATE_LIMITED"


class Overloaded(Rejected):
    """503: shed by adaptive load shedding, a concurrency limit or a full bulkhead."""

    reason = "OVERLOADED"


class CircuitOpen(Rejected):
    """503: a circuit breaker is open."""

    reason = "CIRCUIT_OPEN"


class DeadlineExceeded(Rejected):
    """504: the request's deadline passed before (or while) it ran."""

    reason = "DEADLINE_EXCEEDED"


class LoopDetected(Rejected):
    """508: the call chain would visit this service again."""

    reason = "LOOP_DETECTED"
