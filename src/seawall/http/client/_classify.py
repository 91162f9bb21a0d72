"""How an attempt ended, for the retry decision: a response or an error becomes a retry ``Outcome``.

The defaults of the issue and of Envoy/gRPC: 5xx answers, timeouts and connection errors are
failures; 4xx never are (the caller's fault); 429, and 503 with ``Retry-After``, mean "overloaded"
(retried after the ``Retry-After``, within the cap); 504 is a timeout downstream; 501 and 508
(``LOOP_DETECTED``) will not get better by asking again.
"""

from __future__ import annotations

from typing import Final, final

import httpx

from seawall.errors import DeadlineExceeded, HTTPError, Rejected
from seawall.retry import Outcome

__all__ = ["Failed", "classify", "classify_error", "classify_response", "error_status", "retry_after"]

#: Answers a retry cannot fix: not implemented, a call loop.
_HOPELESS: Final = frozenset({501, 508})


@final
class Failed:
    """An attempt or a call that ended without a response: what to raise, and the status it is
    accounted as (502 for a transport error, 504 for a timeout, a rejection's own status)."""

    __slots__ = ("error", "status")

    def __init__(self, error: Exception, status: int) -> None:
        self.error = error
        self.status = status

    def __repr__(self) -> str:
        return f"Failed({self.error!r}, status={self.status!r})"


def error_status(exc: Exception) -> int:
    """The status an error is accounted as: a rejection's, 504 for timeouts, else 502 (nginx's
    and Envoy's choices for an upstream that timed out or could not be reached)."""
    if isinstance(exc, HTTPError):
        return exc.status
    return 504 if isinstance(exc, httpx.TimeoutException) else 502


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds when it is a number of seconds (an HTTP date, which would need
    the wall clock, is ignored), else ``None``."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < 1e9 else None


def classify_response(response: httpx.Response) -> tuple[Outcome, float | None]:
    """``(outcome, retry_after)`` of an answered attempt."""
    status = response.status_code
    if status < 400:
        return "ok", None
    if status == 429:
        return "overloaded", retry_after(response)
    if status < 500:
        return "ok", None
    if status == 503:
        after = retry_after(response)
        return ("overloaded" if after is not None else "failure"), after
    if status == 504:
        return "timeout", None
    if status in _HOPELESS:
        return "not_counted", None
    return "failure", None


def classify_error(exc: Exception) -> Outcome | None:
    """The outcome of an attempt that raised, ``None`` when it was never sent (refused here)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return "connect_error"  # the request never left: safe to retry whatever the method
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, DeadlineExceeded) and exc.check == "timeout":
        return "timeout"  # the attempt ran out of time while in flight
    if isinstance(exc, Rejected):
        return None
    return "failure"


def classify(result: httpx.Response | Failed) -> tuple[Outcome | None, float | None]:
    """``(outcome, retry_after)`` of an attempt's result; the outcome is ``None`` when the attempt
    was refused before it was sent (breaker open, bulkhead full, deadline spent)."""
    if isinstance(result, Failed):
        return classify_error(result.error), None
    return classify_response(result)
