"""Tests for the request observer on a Service: server spans, trace ids in error bodies and logs,
the sampled access log, the slow-request log, and secrets never logged."""

from __future__ import annotations

import http.server
import io
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from seawall import Policy, RateLimitPolicy, Service
from seawall.errors import TRACE_ID
from seawall.governance import Outcome
from seawall.http._config import SeawallConfig
from seawall.observe import AccessLog, RequestObserver, SlowRequestLog, TraceObserver, configure_logging
from seawall.testing import MockClock

Make = Callable[..., Any]
PARENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
SAMPLED = f"00-{PARENT_TRACE}-b7ad6b7169203331-01"
UNSAMPLED = f"00-{PARENT_TRACE}-b7ad6b7169203331-00"


def config(**sections: Any) -> SeawallConfig:
    return msgspec.convert(sections, SeawallConfig)


def client(app: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def traced_service(make_tracing: Make, *, sample_ratio: float = 1.0, clock: Any = None) -> Service:
    svc = Service("orders", clock=clock) if clock is not None else Service("orders")

    @svc.get("/orders/{id}")
    async def order(id: int) -> dict[str, int]:
        logging.getLogger("app").info("looking up order")
        return {"id": id}

    @svc.get("/limited", policy=Policy(rate_limit=RateLimitPolicy(rate=1, burst=1)))
    async def limited() -> dict[str, bool]:
        return {"ok": True}

    @svc.get("/boom")
    async def boom() -> dict[str, bool]:
        raise RuntimeError("password=hunter2 in a message")

    svc.set_observer(RequestObserver(tracing=make_tracing(sample_ratio=sample_ratio)))
    return svc


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Root logging as JSON into a buffer for the length of a test."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(format="json", level="INFO", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# --- spans --------------------------------------------------------------------------------------


async def test_server_span_is_named_after_the_route_template(make_tracing: Make, span_exporter: Any) -> None:
    """A sampled request to ``/orders/7`` ends one SERVER span ``GET /orders/{id}`` with status 200."""
    svc = traced_service(make_tracing)
    async with client(svc) as c:
        assert (await c.get("/orders/7")).status_code == 200
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "GET /orders/{id}"
    assert span.kind.name == "SERVER"
    assert span.attributes["http.route"] == "/orders/{id}"
    assert span.attributes["http.response.status_code"] == 200
    assert "seawall.reason" not in span.attributes


async def test_rejected_request_span_carries_the_reason(make_tracing: Make, span_exporter: Any) -> None:
    """A rate-limited request's span has status 429 and ``seawall.reason=RATE_LIMITED``."""
    svc = traced_service(make_tracing)
    async with client(svc) as c:
        await c.get("/limited")
        assert (await c.get("/limited")).status_code == 429
    spans = span_exporter.get_finished_spans()
    assert [s.attributes["http.response.status_code"] for s in spans] == [200, 429]
    assert spans[1].attributes["seawall.reason"] == "RATE_LIMITED"


async def test_incoming_traceparent_is_continued(make_tracing: Make, span_exporter: Any) -> None:
    """A caller's sampled ``traceparent`` makes the span a child in the caller's trace."""
    svc = traced_service(make_tracing, sample_ratio=0.0)
    async with client(svc) as c:
        await c.get("/orders/1", headers={"traceparent": SAMPLED, "baggage": "tenant=acme"})
    (span,) = span_exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == PARENT_TRACE
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"


async def test_unsampled_requests_export_nothing(make_tracing: Make, span_exporter: Any) -> None:
    """At ratio 0 without a caller's decision no span is exported."""
    svc = traced_service(make_tracing, sample_ratio=0.0)
    async with client(svc) as c:
        for _ in range(5):
            await c.get("/orders/1")
    assert span_exporter.get_finished_spans() == ()


async def test_bare_routes_are_not_traced(make_tracing: Make, span_exporter: Any) -> None:
    """Built-in (BARE) endpoints such as /healthz never get a span."""
    svc = traced_service(make_tracing)
    async with client(svc) as c:
        await c.get("/healthz")
        await c.get("/metrics")
    assert span_exporter.get_finished_spans() == ()


async def test_context_is_restored_after_each_request(make_tracing: Make) -> None:
    """After a traced request (in-process, same task) no trace id is left current."""
    svc = traced_service(make_tracing)
    async with client(svc) as c:
        await c.get("/orders/1")
        await c.get("/limited", headers={"traceparent": UNSAMPLED})
    assert TRACE_ID.get() is None


# --- trace id in error bodies and logs ----------------------------------------------------------


async def test_error_body_of_a_sampled_request_has_its_trace_id(
    make_tracing: Make, span_exporter: Any
) -> None:
    """A 500's error body names the trace id of the request's span."""
    svc = traced_service(make_tracing)
    async with client(svc) as c:
        r = await c.get("/boom")
    assert r.status_code == 500
    (span,) = span_exporter.get_finished_spans()
    assert r.json()["trace_id"] == format(span.context.trace_id, "032x")


async def test_error_body_of_an_unsampled_caller_has_the_callers_trace_id(make_tracing: Make) -> None:
    """Unsampled, but the caller sent a traceparent: the 429 body carries the caller's trace id."""
    svc = traced_service(make_tracing, sample_ratio=0.0)
    async with client(svc) as c:
        await c.get("/limited")
        r = await c.get("/limited", headers={"traceparent": UNSAMPLED})
    assert r.status_code == 429
    assert r.json()["trace_id"] == PARENT_TRACE


async def test_error_body_without_any_trace_has_no_trace_id(make_tracing: Make) -> None:
    """Unsampled and no traceparent: the error body has no ``trace_id``."""
    svc = traced_service(make_tracing, sample_ratio=0.0)
    async with client(svc) as c:
        r = await c.get("/boom")
    assert "trace_id" not in r.json()


async def test_logs_during_a_request_carry_its_trace_id(
    make_tracing: Make, span_exporter: Any, log_stream: io.StringIO
) -> None:
    """The handler's log line and the unhandled-error record both name the request's trace id,
    and the error record has its traceback with the secret scrubbed."""
    svc = traced_service(make_tracing)
    async with client(svc) as c:
        await c.get("/orders/1")
        await c.get("/boom")
    traces = [format(s.context.trace_id, "032x") for s in span_exporter.get_finished_spans()]
    logged = records(log_stream)
    app = next(r for r in logged if r["logger"] == "app")
    assert app["trace_id"] == traces[0]
    error = next(r for r in logged if r["level"] == "ERROR")
    assert error["trace_id"] == traces[1]
    assert "RuntimeError" in error["exception"]
    assert "hunter2" not in log_stream.getvalue()


# --- access and slow-request logs ---------------------------------------------------------------


async def test_access_log_records_route_status_and_duration(log_stream: io.StringIO) -> None:
    """With an access log at rate 1, each request is one record with the route template."""
    svc = traced_service(lambda **_: None)
    svc.set_observer(RequestObserver(access=AccessLog(sample_rate=1.0)))
    async with client(svc) as c:
        await c.get("/orders/3?token=abc", headers={"authorization": "Bearer sekrit-token-123"})
    (access,) = [r for r in records(log_stream) if r["logger"] == "seawall.access"]
    assert (access["method"], access["route"], access["status"]) == ("GET", "/orders/{id}", 200)
    assert access["duration_ms"] >= 0
    assert "sekrit" not in log_stream.getvalue()
    assert "token=abc" not in log_stream.getvalue()


async def test_access_log_sampling_skips_requests(log_stream: io.StringIO) -> None:
    """At sample rate 0, 2xx requests are not logged but a 5xx is."""
    svc = traced_service(lambda **_: None)
    svc.set_observer(RequestObserver(access=AccessLog(sample_rate=0.0, rng=random.Random(1))))
    async with client(svc) as c:
        for _ in range(3):
            await c.get("/orders/1")
        await c.get("/boom")
    access = [r for r in records(log_stream) if r["logger"] == "seawall.access"]
    assert [r["status"] for r in access] == [500]


async def test_slow_request_log_names_route_and_duration(
    mock_clock: MockClock, log_stream: io.StringIO
) -> None:
    """A request taking 0.8 s against a 0.5 s threshold is logged on seawall.slow; a fast one is not."""
    svc = Service("slow", clock=mock_clock)

    @svc.get("/report")
    async def report(wait: float = 0.0) -> dict[str, bool]:
        mock_clock.jump(wait)
        return {"ok": True}

    svc.set_observer(RequestObserver(slow=SlowRequestLog(threshold=0.5, clock=mock_clock)))
    async with client(svc) as c:
        await c.get("/report?wait=0.1")
        await c.get("/report?wait=0.8")
    (slow,) = [r for r in records(log_stream) if r["logger"] == "seawall.slow"]
    assert slow["route"] == "/report"
    assert slow["duration_ms"] == pytest.approx(800.0)
    assert slow["threshold_ms"] == 500.0


def test_observer_without_parts_is_not_installed() -> None:
    """An observer that does nothing is not put on the guards (they stay observer-free)."""
    svc = traced_service(lambda **_: None)
    svc.set_observer(RequestObserver())
    assert svc.observer is None
    assert all(t.guard.observer is None for t in svc.governor.targets())


def test_observer_end_without_span_only_logs() -> None:
    """``end`` with no handle and no logs configured does nothing (and does not raise)."""
    observer = RequestObserver()
    call = type("C", (), {"scope": {"headers": []}, "method": "GET", "target": "/x"})()
    observer.end(None, call, Outcome(200, "ok", 0.0, 0.1))


# --- configuration ------------------------------------------------------------------------------


def test_config_sections_build_tracing_and_logs(tmp_path: Path) -> None:
    """``tracing:`` and ``logging:`` in the configuration give the routes an observer with
    tracing at the ratio given, an access log and a slow-request log."""
    pytest.importorskip("opentelemetry.sdk")
    svc = traced_service(lambda **_: None)
    svc.set_observer(None)
    svc.configure(
        config(
            tracing={"sample_ratio": 0.25}, logging={"access_sample_rate": 0.1, "slow_request_threshold": 0.5}
        )
    )
    observer = svc.observer
    assert observer is not None
    assert observer.tracing is not None
    assert observer.tracing.sample_ratio == 0.25
    assert observer.access is not None
    assert observer.access.sample_rate == 0.1
    assert observer.slow is not None
    assert observer.slow.threshold == 0.5
    assert all(t.guard.observer is observer for t in svc.governor.targets())


def test_config_without_observability_sections_installs_no_observer(tmp_path: Path) -> None:
    """A configuration without tracing and request logs leaves the guards observer-free."""
    svc = traced_service(lambda **_: None)
    svc.set_observer(None)
    svc.configure(SeawallConfig())
    assert svc.observer is None
    assert svc.tracing is None


async def test_otlp_endpoint_exports_spans_over_http() -> None:
    """With ``otlp_endpoint`` set, a sampled request's span is POSTed to the collector URL
    (a loopback HTTP server run by the test) by the time the service has shut down."""
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    received: list[tuple[str, bytes]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append((self.path, self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        svc = Service("exported")

        @svc.get("/x")
        async def x() -> dict[str, bool]:
            return {"ok": True}

        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        svc.configure(config(tracing={"sample_ratio": 1.0, "otlp_endpoint": endpoint}))
        await svc.startup()
        async with client(svc) as c:
            await c.get("/x")
        await svc.shutdown()  # flushes the batch span processor
    finally:
        server.shutdown()
        server.server_close()
    ((path, body),) = received
    assert path == "/v1/traces"
    assert b"GET /x" in body


# --- the guard's side of the protocol -----------------------------------------------------------


class Recording:
    """An observer that returns ``handle`` from start and records every call."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.calls: list[tuple[str, Any]] = []

    def start(self, call: Any) -> Any:
        self.calls.append(("start", call.target))
        return self.handle

    def end(self, handle: Any, call: Any, outcome: Outcome) -> None:
        self.calls.append(("end", (handle, outcome.status, outcome.kind, outcome.reason)))


@pytest.mark.parametrize("path", ["/orders/1", "/limited"])
async def test_start_returning_none_skips_end(path: str) -> None:
    """A ``None`` handle (an unsampled request) means the guard never calls ``end``."""
    svc = traced_service(lambda **_: None)
    observer = Recording(None)
    for target in svc.governor.targets():
        target.guard.observer = observer
    async with client(svc) as c:
        await c.get(path)
        await c.get(path)
    assert [name for name, _ in observer.calls] == ["start", "start"]


async def test_end_gets_the_handle_and_the_rejections_outcome() -> None:
    """A handle comes back to ``end`` with the outcome, a rejection's reason included."""
    svc = traced_service(lambda **_: None)
    observer = Recording("h")
    for target in svc.governor.targets():
        target.guard.observer = observer
    async with client(svc) as c:
        await c.get("/limited")
        await c.get("/limited")
    ends = [value for name, value in observer.calls if name == "end"]
    assert ends == [("h", 200, "ok", ""), ("h", 429, "rejected", "RATE_LIMITED")]


def test_tracing_alone_installs_the_trace_observer(make_tracing: Make) -> None:
    """With tracing and no request logs the guards get the tracing's TraceObserver (one call
    less per request); with logs they get the RequestObserver."""
    svc = traced_service(make_tracing)
    installed = {type(t.guard.observer) for t in svc.governor.targets()}
    assert installed == {TraceObserver}
    svc.set_observer(RequestObserver(tracing=make_tracing(), access=AccessLog(sample_rate=0.5)))
    assert {type(t.guard.observer) for t in svc.governor.targets()} == {RequestObserver}
