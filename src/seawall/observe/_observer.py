"""The request observer: what a service does per request for operations (traces, access and
slow-request logs), as the guard's :class:`~seawall.governance.Observer`.

A :class:`~seawall.http.Service` builds one only when its configuration asks for tracing, an
access log or a slow-request log, and hands it to the guards of its routes; without one the
guards pay a ``None`` test per request. Nothing here changes an answer or a governance decision.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Final, Protocol, final

from seawall.governance import Outcome
from seawall.observe._logging import AccessLog, SlowRequestLog
from seawall.observe._tracing import ServerSpan, TraceObserver, Tracing

__all__ = ["RequestObserver"]


class _ServerCall(Protocol):
    """The part of :class:`~seawall.http.Request` the observer reads."""

    @property
    def scope(self) -> MutableMapping[str, Any]: ...

    @property
    def method(self) -> str: ...

    @property
    def target(self) -> str: ...

    def header(self, name: str) -> str | None: ...


@final
class _Untraced:
    """The handle of an untraced request whose end still matters (its logs)."""

    __slots__ = ()
    trace_id = None


_UNTRACED: Final = _Untraced()


@final
class RequestObserver:
    """Traces, access-logs and slow-logs each request a guard runs (see the module docstring).

    - ``tracing``: a SERVER span per sampled request, named ``"{method} {route template}"``, with
      the status and, for rejections and timeouts, the stable ``reason``; for an unsampled
      request whose caller sent a valid ``traceparent`` the caller's trace id is still set for
      logs and error bodies.
    - ``access``: one sampled record per request on ``seawall.access`` (every 5xx).
    - ``slow``: a record on ``seawall.slow`` per request at or over the threshold.

    Records logged while a request runs carry its trace id (:data:`~seawall.observe.TRACE_ID`).
    With tracing alone, :attr:`installable` is the cheaper :class:`~seawall.observe.TraceObserver`.

    Args:
        tracing: the :class:`Tracing` of the service, or ``None``.
        access: the sampled access log, or ``None``.
        slow: the slow-request log, or ``None``.

    Example::

        observer = RequestObserver(tracing=Tracing(service_name="orders"), slow=SlowRequestLog(threshold=0.5))
        guard.observer = observer.installable
    """

    __slots__ = ("_trace", "access", "slow", "tracing")

    def __init__(
        self,
        *,
        tracing: Tracing | None = None,
        access: AccessLog | None = None,
        slow: SlowRequestLog | None = None,
    ) -> None:
        self.tracing = tracing
        self.access = access
        self.slow = slow
        self._trace = tracing.observer() if tracing is not None else None

    @property
    def active(self) -> bool:
        """Whether it does anything (a service installs it only then)."""
        return self.tracing is not None or self.access is not None or self.slow is not None

    @property
    def installable(self) -> RequestObserver | TraceObserver:
        """What to put on guards: this observer, or with tracing alone its :class:`TraceObserver`
        (one call less per request)."""
        if self._trace is not None and self.access is None and self.slow is None:
            return self._trace
        return self

    def start(self, call: _ServerCall) -> ServerSpan | _Untraced:
        trace = self._trace
        handle = trace.start(call) if trace is not None else None
        return handle if handle is not None else _UNTRACED

    def end(self, handle: ServerSpan | _Untraced, call: _ServerCall, outcome: Outcome) -> None:
        # Logs first: the trace id is still current until the span ends.
        access, slow = self.access, self.slow
        if access is not None or slow is not None:
            duration = outcome.end - outcome.start
            if access is not None:
                access.log(method=call.method, route=call.target, status=outcome.status, duration=duration)
            if slow is not None and duration >= slow.threshold:
                slow.observe(
                    route=call.target,
                    method=call.method,
                    duration=duration,
                    status=outcome.status,
                    trace_id=handle.trace_id,
                )
        if isinstance(handle, ServerSpan) and self._trace is not None:
            self._trace.end(handle, call, outcome)

    def __repr__(self) -> str:
        return f"RequestObserver(tracing={self.tracing!r}, access={self.access!r}, slow={self.slow!r})"
