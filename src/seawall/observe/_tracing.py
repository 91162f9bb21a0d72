"""Tracing: one server span per sampled request, through the OpenTelemetry SDK (the ``otel`` extra).

:class:`Tracing` decides whether to sample *before* it touches OpenTelemetry, so an unsampled
request costs a scan of the header list for ``traceparent`` and, for a root request, one random
draw; it gets ``None`` back and nothing else happens. Sampled requests get a SERVER span named
``"{method} {route template}"`` (OpenTelemetry's HTTP semantic conventions), the W3C trace
context and baggage of the caller as parent, and the span as the current OpenTelemetry context
(so outbound calls and application spans nest under it); :data:`~seawall.observe.TRACE_ID`
carries its trace id into log records.

Sampling is OpenTelemetry's ``ParentBased(root=TraceIdRatioBased(ratio))`` with its default
delegates: a valid ``traceparent`` decides by its sampled flag, a request without one (or with
an invalid one, which W3C says to ignore) is sampled with probability ``ratio``. The SDK itself
then runs with ``ALWAYS_ON``: it only ever sees requests already chosen.

opentelemetry is imported when a :class:`Tracing` is built, never by ``import seawall``.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Iterable, Mapping, MutableMapping
from contextvars import Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, final

from seawall.observe._logging import TRACE_ID

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

    from seawall.governance import Outcome

__all__ = [
    "ServerSpan",
    "TraceObserver",
    "Tracing",
    "TracingStatistics",
    "incoming_trace_id",
    "otlp_exporter",
    "parse_traceparent",
]

_TRACEPARENT: Final = b"traceparent"
_TRACESTATE: Final = b"tracestate"
_BAGGAGE: Final = b"baggage"
#: W3C Trace Context §3.2: version-traceid-parentid-flags, lowercase hex; later versions may append.
_TRACEPARENT_RE: Final = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_PROPAGATED: Final = (_TRACEPARENT, _TRACESTATE, _BAGGAGE)
_ZERO_TRACE: Final = b"0" * 32
_ZERO_SPAN: Final = b"0" * 16


class _Random(Protocol):
    def random(self) -> float: ...


def _sampled_flag(value: bytes) -> bool | None:
    """The sampled flag of a valid ``traceparent``, ``None`` if invalid (no decoding: hot path)."""
    m = _TRACEPARENT_RE.fullmatch(value)
    if m is None:
        m = _TRACEPARENT_RE.fullmatch(value.strip())
        if m is None:
            return None
    version, trace_id, parent_id, flags, rest = m.groups()
    if version == b"ff" or (version == b"00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return flags[1] in b"13579bdf"  # the low bit of the flags byte


def parse_traceparent(value: bytes) -> tuple[str, str, bool] | None:
    """``(trace_id, parent_id, sampled)`` from a W3C ``traceparent`` value; ``None`` if invalid.

    Follows W3C Trace Context level 1: version ``ff`` is invalid, version ``00`` must be exactly
    55 characters, later versions may carry more fields after a ``-``; all-zero ids are invalid.
    """
    sampled = _sampled_flag(value)
    if sampled is None:
        return None
    value = value.strip()
    return value[3:35].decode(), value[36:52].decode(), sampled


def _find(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for k, v in headers:
        if k == name:
            return v
    return None


def incoming_trace_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The trace id of a valid incoming ``traceparent``, sampled or not (for error bodies and logs
    of requests this service did not sample)."""
    value = _find(headers, _TRACEPARENT)
    parsed = parse_traceparent(value) if value is not None else None
    return parsed[0] if parsed is not None else None


@dataclass(frozen=True, slots=True)
class TracingStatistics:
    """Counts of :class:`Tracing`: requests ``sampled`` and ``unsampled``, spans ``ended``."""

    sampled: int
    unsampled: int
    ended: int


@final
class ServerSpan:
    """The handle of a request's trace: pass it to :meth:`Tracing.end` exactly once.

    A sampled request's handle holds its span; the handle :meth:`Tracing.start_request` returns
    for an unsampled request whose caller sent a valid ``traceparent`` holds only the caller's
    trace id (``span`` and ``context`` are ``None``), so logs and error bodies still name it.
    """

    __slots__ = ("_context_token", "_log_token", "context", "span", "trace_id")

    def __init__(
        self,
        span: Span | None,
        context: Context | None,
        trace_id: str,
        context_token: Token[Context] | None,
        log_token: Token[str | None],
    ) -> None:
        self.span = span
        #: The OpenTelemetry context with this span current (and the caller's baggage).
        self.context = context
        #: 32 lowercase hex digits, as in ``traceparent`` and the error body.
        self.trace_id = trace_id
        self._context_token = context_token
        self._log_token = log_token

    @property
    def sampled(self) -> bool:
        """Whether this request is traced (has a span)."""
        return self.span is not None

    def __repr__(self) -> str:
        return f"ServerSpan(trace_id={self.trace_id!r}, sampled={self.sampled!r})"


@final
class Tracing:
    """Per-request server spans with parent-based ratio sampling; a no-op for unsampled requests.

    Call :meth:`start_server_span` when a request is admitted to routing and :meth:`end` when
    its response is sent, both in the request's task (the span is made current with
    ``contextvars``; spans started in one context nest and must end innermost first, which one
    task per request gives for free). ``None`` from :meth:`start_server_span` means "not sampled": skip
    :meth:`end` (it accepts ``None`` too).

    Args:
        service_name: the ``service.name`` resource attribute.
        sample_ratio: probability in [0, 1] that a request without a sampled/unsampled parent is
            traced (OpenTelemetry's ``TraceIdRatioBased``).
        exporter: where finished spans go (e.g. an OTLP exporter); ``None`` exports nothing.
        batch: export through a ``BatchSpanProcessor`` (production) rather than a
            ``SimpleSpanProcessor`` (tests: spans are exported as they end).
        tracer_provider: use this SDK provider instead of building one (its sampler should be
            ``ALWAYS_ON``: seawall has already decided); ``exporter`` is then ignored.
        rng: the randomness for root decisions (``random.Random``-like); seed it in tests.

    Example::

        tracing = Tracing(service_name="orders", sample_ratio=0.05, exporter=OTLPSpanExporter())
        span = tracing.start_server_span("/orders/{id}", "GET", scope["headers"])
        try:
            ...
        finally:
            tracing.end(span, status)
    """

    __slots__ = (
        "_ended",
        "_propagator",
        "_provider",
        "_random",
        "_ratio",
        "_sampled",
        "_tracer",
        "_unsampled",
    )

    def __init__(
        self,
        *,
        service_name: str,
        sample_ratio: float = 0.01,
        exporter: SpanExporter | None = None,
        batch: bool = True,
        tracer_provider: TracerProvider | None = None,
        rng: _Random | None = None,
    ) -> None:
        if not 0.0 <= sample_ratio <= 1.0:  # also rejects NaN
            raise ValueError("sample_ratio must be in [0, 1]")
        if not service_name:
            raise ValueError("service_name must not be empty")
        from opentelemetry.baggage.propagation import W3CBaggagePropagator
        from opentelemetry.propagators.composite import CompositePropagator
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        if tracer_provider is None:
            tracer_provider = TracerProvider(
                sampler=ALWAYS_ON, resource=Resource.create({"service.name": service_name})
            )
            if exporter is not None:
                processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
                tracer_provider.add_span_processor(processor)
        self._provider = tracer_provider
        self._tracer = tracer_provider.get_tracer("seawall")
        self._propagator = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
        self._ratio = sample_ratio
        self._random = (rng if rng is not None else random.Random()).random
        self._sampled = 0
        self._unsampled = 0
        self._ended = 0

    @property
    def sample_ratio(self) -> float:
        """The probability that a root request is traced."""
        return self._ratio

    @property
    def tracer_provider(self) -> TracerProvider:
        """The SDK provider spans are created with."""
        return self._provider

    def start_server_span(
        self,
        route: str,
        method: str,
        headers: Iterable[tuple[bytes, bytes]],
        *,
        attributes: Mapping[str, str | int | float | bool] | None = None,
    ) -> ServerSpan | None:
        """Start the span of a request to ``route`` (the template) if it is sampled, else ``None``.

        ``headers`` are the ASGI ``(name, value)`` pairs (lowercase names).
        """
        return self._begin(route, method, headers, attributes, carry=False)

    def start_request(
        self,
        route: str,
        method: str,
        headers: Iterable[tuple[bytes, bytes]],
        *,
        attributes: Mapping[str, str | int | float | bool] | None = None,
    ) -> ServerSpan | None:
        """:meth:`start_server_span`, and for an unsampled request whose caller sent a valid
        ``traceparent``, a span-less handle that sets :data:`~seawall.errors.TRACE_ID` to the
        caller's trace id until :meth:`end` (so its logs and error bodies can be correlated).

        This is what a :class:`~seawall.http.Service` calls for each request: a request that is
        not sampled costs one pass over the header list and, for a root, one random draw
        (bench/hotpath.py, "tracing on, unsampled" row).
        """
        name = _TRACEPARENT
        for k, _ in headers:
            if k == name:
                break
        else:  # no trace context (most requests): decide by ratio alone, inline
            ratio = self._ratio
            if ratio < 1.0 and not (ratio > 0.0 and self._random() < ratio):
                self._unsampled += 1
                return None
            return self._start(route, method, (), attributes)
        return self._begin(route, method, headers, attributes, carry=True)

    def _begin(
        self,
        route: str,
        method: str,
        headers: Iterable[tuple[bytes, bytes]],
        attributes: Mapping[str, str | int | float | bool] | None,
        carry: bool,
    ) -> ServerSpan | None:
        traceparent = None
        for k, v in headers:  # one pass; most requests have no trace context at all
            if k == _TRACEPARENT:
                traceparent = v
                break
        if traceparent is not None and (sampled := _sampled_flag(traceparent)) is not None:
            if not sampled:
                self._unsampled += 1
                if not carry:
                    return None
                trace_id = traceparent.strip()[3:35].decode()
                return ServerSpan(None, None, trace_id, None, TRACE_ID.set(trace_id))
        else:
            ratio = self._ratio
            if ratio < 1.0 and not (ratio > 0.0 and self._random() < ratio):
                self._unsampled += 1
                return None
            traceparent = None  # invalid or absent: a new trace (W3C §3.2.2.3 says restart)
        return self._start(route, method, headers if traceparent is not None else (), attributes)

    def _start(
        self,
        route: str,
        method: str,
        headers: Iterable[tuple[bytes, bytes]],
        attributes: Mapping[str, str | int | float | bool] | None,
    ) -> ServerSpan:
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in headers
            if k in (_TRACEPARENT, _TRACESTATE, _BAGGAGE)
        }
        parent = self._propagator.extract(carrier) if carrier else otel_context.Context()
        attrs: dict[str, str | int | float | bool] = {"http.request.method": method, "http.route": route}
        if attributes:
            attrs.update(attributes)
        span = self._tracer.start_span(
            f"{method} {route}", context=parent, kind=trace.SpanKind.SERVER, attributes=attrs
        )
        ctx = trace.set_span_in_context(span, parent)
        trace_id = format(span.get_span_context().trace_id, "032x")
        self._sampled += 1
        return ServerSpan(span, ctx, trace_id, otel_context.attach(ctx), TRACE_ID.set(trace_id))

    def end(self, handle: ServerSpan | None, status: int, reason: str | None = None) -> None:
        """End a request's span with its HTTP ``status`` and, if governance rejected it or it
        failed, the stable ``reason`` (``RATE_LIMITED``, ``OVERLOADED``, ``INTERNAL``...).

        5xx mark the span as an error (for SERVER spans 4xx are the client's error, per the
        HTTP semantic conventions); the reason goes to ``seawall.reason`` and, for 5xx, to
        ``error.type``. Restores the context that was current before the span started.
        """
        if handle is None:
            return
        span = handle.span
        if span is None:  # an unsampled caller's trace id, carried for logs and error bodies
            with contextlib.suppress(ValueError):
                TRACE_ID.reset(handle._log_token)
            return
        from opentelemetry import context as otel_context
        from opentelemetry.trace import Status, StatusCode

        span.set_attribute("http.response.status_code", status)
        if reason is not None:
            span.set_attribute("seawall.reason", reason)
        if status >= 500:
            span.set_attribute("error.type", reason if reason is not None else str(status))
            span.set_status(Status(StatusCode.ERROR, reason))
        span.end()
        self._ended += 1
        with contextlib.suppress(ValueError):  # ended outside the request's context: nothing to restore
            TRACE_ID.reset(handle._log_token)
        if handle._context_token is not None:
            otel_context.detach(handle._context_token)

    def inject(
        self, handle: ServerSpan | None, carrier: MutableMapping[str, str] | None = None
    ) -> dict[str, str]:
        """The W3C ``traceparent`` / ``tracestate`` / ``baggage`` headers for an outgoing call made
        within ``handle``'s span (or the current OpenTelemetry context when ``handle`` is None)."""
        out: dict[str, str] = {}
        self._propagator.inject(out, context=handle.context if handle is not None else None)
        if carrier is not None:
            carrier.update(out)
        return out

    def trace_id(self, handle: ServerSpan | None) -> str | None:
        """The handle's trace id (32 hex digits), or ``None`` for an unsampled request without one."""
        return handle.trace_id if handle is not None else None

    def observer(self) -> TraceObserver:
        """This tracing as a guard :class:`~seawall.governance.Observer` of server requests."""
        return TraceObserver(self)

    def shutdown(self) -> None:
        """Flush and stop the exporter (at service shutdown)."""
        self._provider.shutdown()

    def statistics(self) -> TracingStatistics:
        """Counts so far."""
        return TracingStatistics(self._sampled, self._unsampled, self._ended)

    def __repr__(self) -> str:
        return f"Tracing(sample_ratio={self._ratio!r}, sampled={self._sampled!r})"


class _ServerCall(Protocol):
    """The part of :class:`~seawall.http.Request` a :class:`TraceObserver` reads."""

    @property
    def scope(self) -> MutableMapping[str, Any]: ...

    @property
    def target(self) -> str: ...

    def header(self, name: str) -> str | None: ...


@final
class TraceObserver:
    """A :class:`Tracing` as the guard's :class:`~seawall.governance.Observer` of server requests.

    :meth:`start` is :meth:`Tracing.start_request` for the call, with the decision for a request
    without trace context made inline: such an unsampled request costs one call, one pass over
    the header list and the ratio test, and the guard skips :meth:`end` (the handle is ``None``).
    A :class:`~seawall.http.Service` installs it when tracing is configured without request logs
    (bench/hotpath.py, row "tracing on, unsampled").
    """

    __slots__ = ("_random", "_ratio", "tracing")

    def __init__(self, tracing: Tracing) -> None:
        self.tracing = tracing
        self._ratio = tracing._ratio
        self._random = tracing._random

    def start(self, call: _ServerCall) -> ServerSpan | None:
        scope = call.scope
        if call.header("traceparent") is not None:  # the server's call scans its headers once
            return self.tracing._begin(call.target, scope["method"], scope["headers"], None, carry=True)
        ratio = self._ratio
        if ratio < 1.0 and not (ratio > 0.0 and self._random() < ratio):
            self.tracing._unsampled += 1
            return None
        return self.tracing._start(call.target, scope["method"], (), None)

    def end(self, handle: ServerSpan | None, call: _ServerCall, outcome: Outcome) -> None:
        self.tracing.end(handle, outcome.status, outcome.reason or None)

    def __repr__(self) -> str:
        return f"TraceObserver({self.tracing!r})"


def otlp_exporter(endpoint: str) -> SpanExporter:
    """An OTLP/HTTP span exporter sending to ``endpoint`` (``http://collector:4318/v1/traces``).

    Raises:
        ImportError: the exporter is not installed (``pip install 'seawall[otel]'``).
    """
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ImportError(
            "tracing.otlp_endpoint needs opentelemetry-exporter-otlp-proto-http: pip install 'seawall[otel]'"
        ) from exc
    exporter: SpanExporter = OTLPSpanExporter(endpoint=endpoint)
    return exporter
