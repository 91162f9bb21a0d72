"""Tests for seawall.observe.Tracing: W3C trace context, parent-based ratio sampling, span contents."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.observe import TRACE_ID, Tracing, incoming_trace_id, parse_traceparent

otel_trace = pytest.importorskip("opentelemetry.trace")

# The example of W3C Trace Context §3.2.2 (version 00, sampled).
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
SAMPLED = f"00-{TRACE}-{PARENT}-01".encode()
UNSAMPLED = f"00-{TRACE}-{PARENT}-00".encode()

Make = Callable[..., Tracing]


def headers(traceparent: bytes | None = None, **extra: str) -> list[tuple[bytes, bytes]]:
    out = [(b"host", b"example"), (b"accept", b"*/*")]
    if traceparent is not None:
        out.append((b"traceparent", traceparent))
    out.extend((k.encode(), v.encode()) for k, v in extra.items())
    return out


# --- traceparent --------------------------------------------------------------------------------


def test_w3c_example_parses() -> None:
    """The specification's example yields its trace id, parent id and sampled flag."""
    assert parse_traceparent(SAMPLED) == (TRACE, PARENT, True)
    assert parse_traceparent(UNSAMPLED) == (TRACE, PARENT, False)


def test_only_the_lowest_flag_bit_means_sampled() -> None:
    """Flags 0x02 (random) without 0x01 is unsampled; 0x03 is sampled."""
    assert parse_traceparent(f"00-{TRACE}-{PARENT}-02".encode()) == (TRACE, PARENT, False)
    assert parse_traceparent(f"00-{TRACE}-{PARENT}-03".encode()) == (TRACE, PARENT, True)


@pytest.mark.parametrize(
    "value",
    [
        f"ff-{TRACE}-{PARENT}-01",  # version ff is forbidden
        f"00-{TRACE.upper()}-{PARENT}-01",  # hex must be lowercase
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE}-{PARENT}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE[:-1]}-{PARENT}-01",
        f"00-{TRACE}-{PARENT}-1",
        "",
        "garbage",
    ],
)
def test_invalid_traceparent(value: str) -> None:
    """Values W3C Trace Context calls invalid are rejected."""
    assert parse_traceparent(value.encode()) is None


def test_future_version_may_carry_more_fields() -> None:
    """A higher version is parsed by its first four fields (W3C §3.2.4)."""
    assert parse_traceparent(f"01-{TRACE}-{PARENT}-01-whatever".encode()) == (TRACE, PARENT, True)


@given(st.binary(min_size=16, max_size=16), st.binary(min_size=8, max_size=8), st.integers(0, 255))
def test_traceparent_round_trip(trace: bytes, parent: bytes, flags: int) -> None:
    """Any non-zero ids and flags written as W3C traceparent parse back to the same values."""
    value = f"00-{trace.hex()}-{parent.hex()}-{flags:02x}".encode()
    parsed = parse_traceparent(value)
    if not any(trace) or not any(parent):
        assert parsed is None
    else:
        assert parsed == (trace.hex(), parent.hex(), bool(flags & 1))


def test_incoming_trace_id_of_an_unsampled_caller() -> None:
    """The caller's trace id is available for error bodies even when this service does not trace."""
    assert incoming_trace_id(headers(UNSAMPLED)) == TRACE
    assert incoming_trace_id(headers()) is None
    assert incoming_trace_id(headers(b"garbage")) is None


# --- sampling -----------------------------------------------------------------------------------


def test_sampled_parent_is_continued(make_tracing: Make, span_exporter: Any) -> None:
    """A sampled traceparent gives a SERVER span in the same trace, child of the caller's span."""
    tracing = make_tracing(sample_ratio=0.0)
    handle = tracing.start_server_span("/items/{id}", "GET", headers(SAMPLED))
    assert handle is not None
    assert handle.trace_id == TRACE
    tracing.end(handle, 200)
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "GET /items/{id}"
    assert span.kind == otel_trace.SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == TRACE
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == PARENT
    assert span.attributes["http.route"] == "/items/{id}"
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["http.response.status_code"] == 200
    assert span.resource.attributes["service.name"] == "svc"


def test_unsampled_parent_is_not_traced(make_tracing: Make, span_exporter: Any) -> None:
    """An unsampled traceparent is followed even at ratio 1: no span (ParentBased's default)."""
    tracing = make_tracing(sample_ratio=1.0)
    assert tracing.start_server_span("/a", "GET", headers(UNSAMPLED)) is None
    assert span_exporter.get_finished_spans() == ()
    assert tracing.statistics().unsampled == 1


def test_root_at_ratio_zero_is_not_traced(make_tracing: Make) -> None:
    """Without a parent, ratio 0 never samples."""
    tracing = make_tracing(sample_ratio=0.0)
    assert all(tracing.start_server_span("/a", "GET", headers()) is None for _ in range(100))


def test_root_at_ratio_one_starts_a_new_trace(make_tracing: Make, span_exporter: Any) -> None:
    """Without a parent, ratio 1 always samples, as a root span."""
    tracing = make_tracing(sample_ratio=1.0)
    handle = tracing.start_server_span("/a", "POST", headers())
    assert handle is not None
    tracing.end(handle, 201)
    (span,) = span_exporter.get_finished_spans()
    assert span.parent is None
    assert span.context.trace_id != 0


def test_root_sampling_follows_the_rng(make_tracing: Make) -> None:
    """With a seeded rng, exactly the draws below the ratio are sampled."""
    tracing = make_tracing(sample_ratio=0.25, seed=11)
    twin = random.Random(11)
    expected = sum(twin.random() < 0.25 for _ in range(400))
    handles = [tracing.start_server_span("/a", "GET", headers()) for _ in range(400)]
    for h in reversed(handles):  # one context here: spans nest, so they end innermost first
        tracing.end(h, 200)
    assert sum(h is not None for h in handles) == expected
    stats = tracing.statistics()
    assert (stats.sampled, stats.unsampled, stats.ended) == (expected, 400 - expected, expected)


@pytest.mark.parametrize("ratio", [0.0, 1.0])
def test_invalid_traceparent_restarts_the_trace(make_tracing: Make, ratio: float) -> None:
    """An invalid traceparent is ignored: the root ratio decides, and a new trace id is made."""
    tracing = make_tracing(sample_ratio=ratio)
    bad = f"00-{TRACE.upper()}-{PARENT}-01".encode()
    handle = tracing.start_server_span("/a", "GET", headers(bad))
    if ratio == 0.0:
        assert handle is None
    else:
        assert handle is not None
        assert handle.trace_id != TRACE
        tracing.end(handle, 200)


# --- span outcome -------------------------------------------------------------------------------


def test_server_error_marks_the_span(make_tracing: Make, span_exporter: Any) -> None:
    """A 503 OVERLOADED is an error span with error.type and seawall.reason."""
    tracing = make_tracing()
    tracing.end(tracing.start_server_span("/a", "GET", headers()), 503, "OVERLOADED")
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code == otel_trace.StatusCode.ERROR
    assert span.attributes["error.type"] == "OVERLOADED"
    assert span.attributes["seawall.reason"] == "OVERLOADED"


def test_client_error_is_not_a_server_span_error(make_tracing: Make, span_exporter: Any) -> None:
    """A 429 RATE_LIMITED keeps status UNSET but records the rejection reason."""
    tracing = make_tracing()
    tracing.end(tracing.start_server_span("/a", "GET", headers()), 429, "RATE_LIMITED")
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code == otel_trace.StatusCode.UNSET
    assert span.attributes["seawall.reason"] == "RATE_LIMITED"
    assert "error.type" not in span.attributes


def test_500_without_reason_uses_the_status_as_error_type(make_tracing: Make, span_exporter: Any) -> None:
    """Without a reason, error.type is the status code (HTTP semantic conventions)."""
    tracing = make_tracing()
    tracing.end(tracing.start_server_span("/a", "GET", headers()), 500)
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["error.type"] == "500"


def test_extra_attributes(make_tracing: Make, span_exporter: Any) -> None:
    """Attributes given at start are on the span."""
    tracing = make_tracing()
    tracing.end(tracing.start_server_span("/a", "GET", headers(), attributes={"tenant": "t1"}), 200)
    assert span_exporter.get_finished_spans()[0].attributes["tenant"] == "t1"


def test_end_of_unsampled_is_a_no_op(make_tracing: Make) -> None:
    """end(None) and trace_id(None) do nothing."""
    tracing = make_tracing()
    tracing.end(None, 200)
    assert tracing.trace_id(None) is None
    assert tracing.statistics().ended == 0


# --- context ------------------------------------------------------------------------------------


def test_span_is_current_and_trace_id_is_logged_until_end(make_tracing: Make) -> None:
    """During the request the span is OpenTelemetry's current span and TRACE_ID is set; end restores both."""
    tracing = make_tracing()
    before = otel_trace.get_current_span()
    handle = tracing.start_server_span("/a", "GET", headers(SAMPLED))
    assert handle is not None
    assert otel_trace.get_current_span() is handle.span
    assert TRACE_ID.get() == TRACE
    assert tracing.trace_id(handle) == TRACE
    tracing.end(handle, 200)
    assert otel_trace.get_current_span() is before
    assert TRACE_ID.get() is None


def test_inject_continues_the_trace_downstream(make_tracing: Make) -> None:
    """Outgoing headers carry this span as parent, sampled, with the caller's tracestate and baggage."""
    tracing = make_tracing()
    incoming = headers(SAMPLED, tracestate="vendor=abc", baggage="tenant=t1")
    handle = tracing.start_server_span("/a", "GET", incoming)
    assert handle is not None
    carrier: dict[str, str] = {"x-other": "1"}
    out = tracing.inject(handle, carrier)
    tracing.end(handle, 200)
    version, trace_id, span_id, flags = out["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE, "01")
    assert span_id == format(handle.span.get_span_context().span_id, "016x")
    assert span_id != PARENT
    assert out["tracestate"] == "vendor=abc"
    assert out["baggage"] == "tenant=t1"
    assert carrier["traceparent"] == out["traceparent"]
    assert carrier["x-other"] == "1"


def test_inject_without_a_span_sends_no_traceparent(make_tracing: Make) -> None:
    """Outside any span there is no trace context to send."""
    assert "traceparent" not in make_tracing().inject(None)


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [-0.1, 1.5, float("nan")])
def test_sample_ratio_is_validated(ratio: float) -> None:
    """sample_ratio must be a probability."""
    with pytest.raises(ValueError, match=r"sample_ratio must be in \[0, 1\]"):
        Tracing(service_name="svc", sample_ratio=ratio)


def test_service_name_is_required() -> None:
    """An empty service name is rejected."""
    with pytest.raises(ValueError, match="service_name must not be empty"):
        Tracing(service_name="")


def test_own_tracer_provider_is_used(span_exporter: Any) -> None:
    """A given provider is used as is (and shut down by shutdown())."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    tracing = Tracing(service_name="svc", sample_ratio=1.0, tracer_provider=provider)
    assert tracing.tracer_provider is provider
    tracing.end(tracing.start_server_span("/a", "GET", headers()), 200)
    assert len(span_exporter.get_finished_spans()) == 1
    tracing.shutdown()
