"""What the client's two guards run: the outbound :class:`~seawall.governance.Call`, and the call
side and attempt side :class:`~seawall.governance.Transport` s (see ``_upstream``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeAlias, final

import httpx

from seawall.deadline import current as current_deadline
from seawall.discovery import Instance
from seawall.errors import HTTPError, Rejected
from seawall.governance._call import Propagated
from seawall.http.client._classify import Failed
from seawall.http.client._dependency import ClientFallback

__all__ = [
    "AttemptSide",
    "AttemptStats",
    "CallSide",
    "OutboundCall",
    "Result",
    "Work",
    "adapt_fallback",
    "remaining",
    "retarget",
    "status_of",
]

#: What an attempt or a call ends with: a response, or what to raise and the status to account.
Result: TypeAlias = httpx.Response | Failed
#: The work a side runs: the attempt loop (call side) or one HTTP exchange (attempt side).
Work: TypeAlias = Callable[["OutboundCall"], Awaitable[Result]]

_FALLBACK_HEADER: Final = "x-seawall-fallback"


@final
class OutboundCall:
    """One call to a dependency, or one attempt of it, as governance checks see it (a
    :class:`~seawall.governance.Call`): method, the dependency's name as target, the chosen
    instance as peer, the deadline allowed, and the outgoing request's headers and query."""

    __slots__ = ("_deadline", "headers", "instance", "keyed", "method", "outcome", "request", "target")

    def __init__(
        self,
        method: str,
        target: str,
        request: httpx.Request,
        instance: Instance | None,
        deadline: float | None,
        headers: httpx.Headers | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.request = request
        self.instance = instance
        self._deadline = deadline
        #: The headers each attempt sends (the call chain and trace context added).
        self.headers = headers if headers is not None else request.headers
        #: How the call ended, for the accounting (set along the way).
        self.outcome = "ok"
        #: Whether the request carries an ``Idempotency-Key`` (it may be retried whatever its method).
        self.keyed = False

    @property
    def peer(self) -> str:
        """The chosen instance's address (``""`` for the call as a whole)."""
        return self.instance.address if self.instance is not None else ""

    @property
    def incoming_deadline(self) -> float | None:
        return self._deadline

    @property
    def propagated(self) -> Propagated | None:
        chain, traceparent = self.headers.get("x-seawall-call-chain"), self.headers.get("traceparent")
        if chain is None and traceparent is None:
            return None
        return Propagated(chain, traceparent, self.headers.get("tracestate"))

    def header(self, name: str) -> str | None:
        value: str | None = self.headers.get(name)
        return value

    def query_param(self, name: str) -> str | None:
        value: str | None = self.request.url.params.get(name)
        return value

    def path_param(self, name: str) -> Any:
        return None

    def __repr__(self) -> str:
        return f"OutboundCall({self.method} {self.target} -> {self.peer or '?'})"


def status_of(result: Result) -> int:
    return result.status if isinstance(result, Failed) else result.status_code


@final
class CallSide:
    """The call guard's :class:`~seawall.governance.Transport`: the work is the attempt loop."""

    __slots__ = ("work",)

    def __init__(self, work: Work) -> None:
        self.work = work

    async def invoke(self, call: OutboundCall) -> Result:
        return await self.work(call)

    def status(self, result: Result) -> int:
        return status_of(result)

    async def answer(self, call: OutboundCall, error: HTTPError) -> Result:
        # Raised by Upstream.send once the guard has accounted it (raising here would account
        # every rejection as a 500).
        call.outcome = "rejected"
        return Failed(error, error.status)

    async def degrade(self, call: OutboundCall, rejection: Rejected, value: Any) -> Result:
        call.outcome = "fallback"
        response = value if isinstance(value, httpx.Response) else httpx.Response(200, json=value)
        response.headers[_FALLBACK_HEADER] = rejection.reason
        return response


@final
class AttemptSide:
    """The attempt guard's :class:`~seawall.governance.Transport`: the work is one HTTP exchange."""

    __slots__ = ("work",)

    def __init__(self, work: Work) -> None:
        self.work = work

    async def invoke(self, call: OutboundCall) -> Result:
        return await self.work(call)

    def status(self, result: Result) -> int:
        return status_of(result)

    async def answer(self, call: OutboundCall, error: HTTPError) -> Result:
        return Failed(error, error.status)

    async def degrade(self, call: OutboundCall, rejection: Rejected, value: Any) -> Result:
        return Failed(rejection, rejection.status)  # attempts have no fallback; calls do


@final
class AttemptStats:
    """The attempt guard's accounting: only attempts in flight (calls are counted by the call guard)."""

    __slots__ = ("in_flight",)

    def __init__(self) -> None:
        self.in_flight = 0

    def observe(self, status: int, seconds: float) -> None:
        pass

    def reject(self, reason: str, check: str) -> None:
        pass


_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# httpx keeps a parsed URL as a NamedTuple; replacing its authority in place costs ~0.5 µs where
# URL.copy_with (a full re-parse) cost 13.5 µs, a quarter of the transport's whole overhead
# (bench/client.py). Checked at import; without it, copy_with.
_FAST_URL: Final = hasattr(getattr(httpx.URL("http://x"), "_uri_reference", None), "_replace")


def retarget(url: httpx.URL, scheme: str, host: str, port: int) -> httpx.URL:
    """``url`` sent to ``scheme://host:port`` instead (path, query and fragment kept)."""
    if not _FAST_URL:  # pragma: no cover - another httpx layout
        return url.copy_with(scheme=scheme, host=host, port=port)
    new = httpx.URL.__new__(httpx.URL)
    new._uri_reference = url._uri_reference._replace(
        scheme=scheme, host=host.lower(), port=None if _DEFAULT_PORTS.get(scheme) == port else port
    )
    return new


def remaining() -> float | None:
    """Seconds left of the deadline current in this task (a call's, an attempt's, a request's)."""
    w = current_deadline()
    return None if w is None else w.remaining()


def adapt_fallback(fn: ClientFallback | None) -> Callable[[Any, Rejected], Any] | None:
    """The guard's ``fallback(call, rejection)`` from a client fallback of ``(request, rejection)``."""
    if fn is None:
        return None

    def adapted(call: OutboundCall, rejection: Rejected) -> Any:
        return fn(call.request, rejection)

    return adapted
