"""What a check sees of a call, and what an exit learns when the call ends.

A :class:`Call` is the transport-neutral view of one inbound request or outbound call: its method,
its target (a route template or a dependency name), the client it comes from, and lookups for
the values client keys are made of. The HTTP server's :class:`~seawall.http.Request` is one; the
outbound transport's call is another. Checks never see an ASGI scope or an httpx request.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, final, runtime_checkable

__all__ = ["Call", "Outcome", "OutcomeKind", "Propagated"]

#: How a call ended: ``ok`` (an answer below 500, 4xx included: the caller's fault, not ours),
#: ``error`` (5xx or an unexpected exception), ``timeout`` (its deadline passed), ``rejected``
#: (governance said no, here or downstream), ``cancelled`` (the client went away, or shutdown).
OutcomeKind = Literal["ok", "error", "timeout", "rejected", "cancelled"]


@final
class Propagated:
    """What a caller propagates with a call: ``X-Seawall-Call-Chain`` and W3C trace context."""

    __slots__ = ("chain", "traceparent", "tracestate")

    def __init__(self, chain: str | None, traceparent: str | None, tracestate: str | None) -> None:
        #: The raw call-chain header (service names, oldest first, comma-separated).
        self.chain = chain
        self.traceparent = traceparent
        self.tracestate = tracestate

    def __repr__(self) -> str:
        return f"Propagated(chain={self.chain!r}, traceparent={self.traceparent!r})"


@runtime_checkable
class Call(Protocol):
    """One call as checks see it. Lookups are lazy: a check pays only for what it reads."""

    @property
    def method(self) -> str:
        """The method, upper case (``GET``)."""
        ...

    @property
    def target(self) -> str:
        """The route template (``/items/{id}``) or the dependency's name (``inventory``)."""
        ...

    @property
    def peer(self) -> str:
        """The client's address (host only), ``""`` when unknown."""
        ...

    @property
    def incoming_deadline(self) -> float | None:
        """Seconds the caller still allows for this call when it arrived, ``None`` if it set none."""
        ...

    @property
    def propagated(self) -> Propagated | None:
        """The call chain and trace context the caller sent, ``None`` when it sent neither
        (most calls from outside: the loop check then costs one attribute read)."""
        ...

    def header(self, name: str) -> str | None:
        """A header's value (``name`` in lower case), ``None`` when absent."""
        ...

    def query_param(self, name: str) -> str | None:
        """A query parameter's value, ``None`` when absent."""
        ...

    def path_param(self, name: str) -> Any:
        """A path parameter's canonical (converted) value, ``None`` when absent.

        Raises:
            HTTPError: the value is invalid for its declared type (a 400, decided before any limit
                counts it).
        """
        ...


@final
class Outcome:
    """How a call ended, given to every exit of the checks that admitted it. Treat it as immutable.

    (A plain slotted class, not a frozen dataclass: one is made per call, and a frozen
    dataclass's ``__init__`` cost 4x as much, ~0.3 µs, on the hot path.)

    Attributes:
        status: the HTTP status answered (499 when the client went away).
        kind: the outcome class (see :data:`OutcomeKind`).
        start: clock time when admission began.
        end: clock time when the answer was complete.
        reason: the rejection reason (``RATE_LIMITED``, ``DEADLINE_EXCEEDED``...) when rejected or
            timed out, else ``""``.
    """

    __slots__ = ("end", "kind", "reason", "start", "status")

    def __init__(self, status: int, kind: OutcomeKind, start: float, end: float, reason: str = "") -> None:
        self.status = status
        self.kind: OutcomeKind = kind
        self.start = start
        self.end = end
        self.reason = reason

    @property
    def latency(self) -> float:
        """Seconds from admission to the answer."""
        return self.end - self.start

    @property
    def failed(self) -> bool:
        """Whether the call says something went wrong on the serving side (error or timeout)."""
        return self.kind == "error" or self.kind == "timeout"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Outcome):
            return NotImplemented
        return (self.status, self.kind, self.start, self.end, self.reason) == (
            other.status,
            other.kind,
            other.start,
            other.end,
            other.reason,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Outcome(status={self.status!r}, kind={self.kind!r}, latency={self.latency:.6f}, "
            f"reason={self.reason!r})"
        )
