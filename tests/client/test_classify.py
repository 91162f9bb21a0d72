"""Classification of attempts: what is retried, what counts as overloaded, what is never sent."""

from __future__ import annotations

import httpx
import pytest

from seawall.errors import CircuitOpen, DeadlineExceeded, Overloaded
from seawall.http.client._classify import (
    Failed,
    classify,
    classify_error,
    classify_response,
    error_status,
    retry_after,
)


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, {}, ("ok", None)),
        (304, {}, ("ok", None)),
        (404, {}, ("ok", None)),
        (429, {}, ("overloaded", None)),
        (429, {"retry-after": "2"}, ("overloaded", 2.0)),
        (500, {}, ("failure", None)),
        (502, {}, ("failure", None)),
        (503, {}, ("failure", None)),
        (503, {"retry-after": "1"}, ("overloaded", 1.0)),
        (504, {}, ("timeout", None)),
        (501, {}, ("not_counted", None)),
        (508, {}, ("not_counted", None)),
    ],
)
def test_response_outcomes(status: int, headers: dict[str, str], expected: tuple[str, float | None]) -> None:
    """5xx fail, 4xx never do, 429 and 503 + Retry-After are overloaded, 504 times out, 501/508 are final."""
    assert classify_response(httpx.Response(status, headers=headers)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-1", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("x", None),
    ],
)
def test_retry_after_seconds_only(value: str, expected: float | None) -> None:
    """Only a number of seconds is read; dates (which need the wall clock) and garbage are ignored."""
    assert retry_after(httpx.Response(503, headers={"retry-after": value})) == expected


def test_errors() -> None:
    """Connection errors (and pool waits) never sent the request; other timeouts are timeouts."""
    request = httpx.Request("GET", "http://x")
    assert classify_error(httpx.ConnectError("x", request=request)) == "connect_error"
    assert classify_error(httpx.ConnectTimeout("x", request=request)) == "connect_error"
    assert classify_error(httpx.PoolTimeout("x", request=request)) == "connect_error"
    assert classify_error(httpx.ReadTimeout("x", request=request)) == "timeout"
    assert classify_error(httpx.RemoteProtocolError("x", request=request)) == "failure"
    assert classify_error(httpx.ReadError("x", request=request)) == "failure"


def test_rejections_were_never_sent() -> None:
    """A breaker or bulkhead refusal, or a deadline spent before sending, has no outcome; an attempt
    whose deadline expired in flight timed out."""
    assert classify_error(CircuitOpen()) is None
    assert classify_error(Overloaded()) is None
    assert classify_error(DeadlineExceeded(check="deadline")) is None
    assert classify_error(DeadlineExceeded(check="timeout")) == "timeout"


def test_failed_results() -> None:
    """``classify`` reads a Failed attempt through its error."""
    request = httpx.Request("GET", "http://x")
    assert classify(Failed(httpx.ConnectError("x", request=request), 502)) == ("connect_error", None)
    assert classify(httpx.Response(200)) == ("ok", None)


def test_error_status() -> None:
    """Transport errors are accounted as 502, timeouts as 504, rejections as their own status."""
    request = httpx.Request("GET", "http://x")
    assert error_status(httpx.ConnectError("x", request=request)) == 502
    assert error_status(httpx.ReadTimeout("x", request=request)) == 504
    assert error_status(CircuitOpen()) == 503
