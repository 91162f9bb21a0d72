"""The exception tree, the reason registry and the JSON error body."""

from __future__ import annotations

import inspect

import msgspec
import pytest

from seawall import errors
from seawall.errors import (
    REASONS,
    ConfigError,
    HTTPError,
    MethodNotAllowed,
    Overloaded,
    RateLimited,
    Rejected,
    SeawallError,
    error_body,
)

HTTP_ERRORS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, HTTPError) and cls.__module__ == errors.__name__
]


def make(cls: type[HTTPError]) -> HTTPError:
    return cls(["GET"]) if cls is MethodNotAllowed else cls()  # type: ignore[call-arg]


@pytest.mark.parametrize("cls", HTTP_ERRORS, ids=lambda c: c.__name__)
def test_class_matches_registry(cls: type[HTTPError]) -> None:
    """Each HTTP error class's status and code are its reason's entry in REASONS."""
    exc = make(cls)
    info = REASONS[exc.reason]
    assert (exc.status, exc.code) == (info.status, info.code)
    assert exc.message == info.description


@pytest.mark.parametrize(
    ("cls", "status", "reason"),
    [
        (errors.BadRequest, 400, "INVALID_INPUT"),
        (errors.MalformedBody, 400, "MALFORMED_BODY"),
        (errors.ValidationFailed, 400, "VALIDATION_FAILED"),
        (errors.Unauthorized, 401, "UNAUTHENTICATED"),
        (errors.Forbidden, 403, "FORBIDDEN"),
        (errors.NotFound, 404, "NOT_FOUND"),
        (errors.PayloadTooLarge, 413, "BODY_TOO_LARGE"),
        (errors.InternalError, 500, "INTERNAL"),
        (errors.RateLimited, 429, "RATE_LIMITED"),
        (errors.Overloaded, 503, "OVERLOADED"),
        (errors.CircuitOpen, 503, "CIRCUIT_OPEN"),
        (errors.DeadlineExceeded, 504, "DEADLINE_EXCEEDED"),
        (errors.LoopDetected, 508, "LOOP_DETECTED"),
    ],
)
def test_fixed_statuses(cls: type[HTTPError], status: int, reason: str) -> None:
    """The statuses and reasons DESIGN.md promises are what the classes carry."""
    exc = cls()
    assert (exc.status, exc.reason) == (status, reason)


def test_every_http_error_class_is_covered() -> None:
    """The registry test above sees every HTTPError subclass the module defines (16 with the root)."""
    assert len(HTTP_ERRORS) == 16


def test_codes_are_unique() -> None:
    """No two reasons share a numeric code."""
    codes = [r.code for r in REASONS.values()]
    assert len(codes) == len(set(codes))


def test_codes_encode_their_status() -> None:
    """Every code is ``status * 100 + n``, and each entry is keyed by its own reason."""
    for key, r in REASONS.items():
        assert r.code // 100 == r.status
        assert key == r.reason
        assert r.reason == r.reason.upper()


def test_rejected_branch() -> None:
    """Governance rejections share the Rejected base; everything shares SeawallError."""
    for cls in (RateLimited, Overloaded, errors.CircuitOpen, errors.DeadlineExceeded, errors.LoopDetected):
        assert issubclass(cls, Rejected)
    assert issubclass(HTTPError, SeawallError)
    assert issubclass(ConfigError, SeawallError)
    assert not issubclass(errors.NotFound, Rejected)


@pytest.mark.parametrize(
    ("seconds", "header"),
    [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (2.5, "3"), (30.0, "30")],
)
def test_retry_after_rounds_up_to_whole_seconds(seconds: float, header: str) -> None:
    """Retry-After is whole seconds, rounded up, and at least 1."""
    exc = Overloaded(retry_after=seconds)
    assert exc.headers == [(b"retry-after", header.encode())]
    assert exc.retry_after == seconds


def test_no_retry_after_without_a_hint() -> None:
    """A rejection without ``retry_after`` sends no Retry-After header."""
    assert RateLimited().headers == []


def test_rejected_keeps_the_check_name() -> None:
    """``check`` names which check rejected."""
    assert Overloaded("busy", check="concurrency").check == "concurrency"


def test_method_not_allowed_sets_allow() -> None:
    """MethodNotAllowed carries the allowed methods as an ``Allow`` header."""
    exc = MethodNotAllowed(["GET", "HEAD"])
    assert exc.headers == [(b"allow", b"GET, HEAD")]
    assert exc.allow == ["GET", "HEAD"]


def test_error_body_shape() -> None:
    """``error_body`` has code, reason and message, and omits details/trace_id when unset."""
    body = msgspec.json.decode(error_body("NOT_FOUND", "no route for /x"))
    assert body == {"code": 40400, "reason": "NOT_FOUND", "message": "no route for /x"}


def test_error_body_with_details_and_trace_id() -> None:
    """Details and trace_id appear when given."""
    body = msgspec.json.decode(error_body("VALIDATION_FAILED", "bad", {"field": "body.$.x"}, "abc123"))
    assert body == {
        "code": 40002,
        "reason": "VALIDATION_FAILED",
        "message": "bad",
        "details": {"field": "body.$.x"},
        "trace_id": "abc123",
    }


def test_error_body_rejects_unknown_reason() -> None:
    """Only registered reasons can be encoded."""
    with pytest.raises(KeyError):
        error_body("NOPE", "x")


def test_http_error_body_method() -> None:
    """``HTTPError.body()`` encodes the same shape as ``error_body``."""
    exc = errors.Forbidden("not you", details={"role": "guest"})
    assert msgspec.json.decode(exc.body()) == msgspec.json.decode(
        error_body("FORBIDDEN", "not you", {"role": "guest"})
    )


def test_http_error_with_registered_reason() -> None:
    """``HTTPError(reason=...)`` takes that reason's status and code."""
    exc = HTTPError("starting", reason="NOT_READY")
    assert (exc.status, exc.code, exc.reason) == (503, 50302, "NOT_READY")


def test_http_error_with_unknown_reason_is_refused() -> None:
    """An unregistered reason raises ValueError naming it."""
    with pytest.raises(ValueError, match="'BOGUS'"):
        HTTPError("x", reason="BOGUS")


def test_config_error_names_path_and_source() -> None:
    """ConfigError keeps the field path and source and shows both in its message."""
    exc = ConfigError("bad port", path="$.server.port", source="seawall.yaml")
    assert (exc.path, exc.source) == ("$.server.port", "seawall.yaml")
    assert str(exc) == "seawall.yaml: bad port (at $.server.port)"


def test_tree_docstring_lists_every_class() -> None:
    """The ASCII tree in the module docstring names every exception class."""
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        obj = getattr(errors, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert name in doc, name
