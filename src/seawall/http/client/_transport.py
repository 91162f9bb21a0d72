"""The httpx transport: logical names in, governed calls to real instances out."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Self, final

import httpx

from seawall._clock import MONOTONIC, Clock
from seawall.governance import Governor, Policy
from seawall.http.client._dependency import Dependency
from seawall.http.client._metrics import ClientMetrics
from seawall.http.client._upstream import Upstream

__all__ = ["SeawallTransport"]


def _pool(max_connections: int) -> httpx.AsyncHTTPTransport:
    # Keep-alive for the whole pool: the default 20 churns connections under load.
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncHTTPTransport(limits=limits)


@final
class SeawallTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that sends calls to a dependency's instances, governed.

    Keep using ``httpx.AsyncClient``: requests to ``http://<dependency>/...`` are routed to one
    of the dependency's instances (discovery, p2c-EWMA balancing, outlier ejection), under its
    bulkhead and circuit breaker, with the remaining deadline sent downstream in
    ``X-Seawall-Deadline-Ms``, the call chain in ``X-Seawall-Call-Chain`` and the incoming trace
    context forwarded; failed attempts are retried within the retry budget (another instance,
    idempotent calls only, never with too little time left). Requests to other hosts pass
    through unchanged unless ``passthrough=False``.

    Inside a seawall handler, an open breaker raises :class:`~seawall.errors.CircuitOpen` and a
    spent deadline :class:`~seawall.errors.DeadlineExceeded`, which the server answers with 503 /
    504 (or the route's fallback); a dependency's own ``fallback`` answers first if it has one.

    Most services use ``service.client("inventory")``, which builds this from ``seawall.yaml``.

    Args:
        dependencies: the dependencies calls may name.
        service: this service's name, appended to the call chain (loop detection downstream).
        governor: compiles the dependencies' checks and enforces their deadlines; a service's
            governor shares its registry (resources listed in its snapshot, closed with it).
            Default: a private one on ``clock`` and ``rng``.
        clock: the time source (without ``governor``).
        rng: the randomness of balancers, backoff and breakers (without ``governor``).
        inner: the transport requests are finally sent with (default: one
            ``httpx.AsyncHTTPTransport`` pool per dependency); tests pass ``httpx.MockTransport``.
        metrics: where dependencies are exported (default: a new :class:`ClientMetrics`,
            readable as :attr:`metrics`).
        passthrough: send requests to hosts that name no dependency as they are.
        trace: returns the trace headers of the current span (e.g. ``Tracing.inject``); without
            it, or when it returns none, the incoming trace context is forwarded as it came.

    Example::

        transport = SeawallTransport(
            Dependency(name="inventory", instances=["127.0.0.1:8001", "127.0.0.1:8002"]),
            service="orders",
        )
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get("http://inventory/items/1")
    """

    def __init__(
        self,
        *dependencies: Dependency,
        service: str = "",
        governor: Governor | None = None,
        clock: Clock = MONOTONIC,
        rng: random.Random | None = None,
        inner: httpx.AsyncBaseTransport | None = None,
        metrics: ClientMetrics | None = None,
        passthrough: bool = True,
        trace: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        if any(c in service for c in ", \t"):
            raise ValueError(f"service must be a name without commas or spaces, not {service!r}")
        self.service = service
        self.governor = (
            governor
            if governor is not None
            else Governor(service or "client", default=Policy(), clock=clock, rng=rng)
        )
        self.metrics = metrics if metrics is not None else ClientMetrics()
        self._inner = inner
        self._passthrough = passthrough
        self._trace = trace
        self._pass: httpx.AsyncBaseTransport | None = None
        self._upstreams: dict[str, Upstream] = {}
        self._pending: dict[str, Callable[[], Dependency]] = {}
        self._pools: list[httpx.AsyncBaseTransport] = []
        for dependency in dependencies:
            self.add(dependency)

    def add(self, dependency: Dependency | Callable[[], Dependency], *, name: str | None = None) -> None:
        """Route calls to ``dependency`` (or, given ``name``, to what the factory builds at the
        first call: a ``seawall.yaml`` read after the service started).

        Raises:
            ValueError: the name is taken.
        """
        if isinstance(dependency, Dependency):
            key = dependency.name.lower()
            self._check_free(key)
            self._build(key, dependency)
            return
        if name is None:
            raise ValueError("a dependency factory needs its name")
        key = name.lower()
        self._check_free(key)
        self._pending[key] = dependency

    def _check_free(self, key: str) -> None:
        if key in self._upstreams or key in self._pending:
            raise ValueError(f"dependency {key!r} is already routed by this transport")

    def _build(self, key: str, dependency: Dependency) -> Upstream:
        inner = self._inner
        if inner is None:
            inner = _pool(dependency.max_connections)
            self._pools.append(inner)
        upstream = Upstream(
            dependency, service=self.service, governor=self.governor, inner=inner, trace=self._trace
        )
        self._upstreams[key] = upstream
        self.metrics.add(upstream.statistics)
        return upstream

    def upstream(self, name: str) -> Upstream:
        """The run-time state of dependency ``name`` (built now if it was added as a factory).

        Raises:
            KeyError: no dependency has that name.
        """
        key = name.lower()
        upstream = self._upstreams.get(key)
        if upstream is None:
            factory = self._pending.pop(key)
            upstream = self._build(key, factory())
        return upstream

    @property
    def names(self) -> tuple[str, ...]:
        """The dependencies this transport routes."""
        return tuple(sorted({*self._upstreams, *self._pending}))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        upstream = self._upstreams.get(host)
        if upstream is None:
            if host in self._pending:
                upstream = self.upstream(host)
            elif self._passthrough:
                return await self._passthrough_transport().handle_async_request(request)
            else:
                raise httpx.ConnectError(f"no dependency named {host!r}", request=request)
        return await upstream.send(request)

    def _passthrough_transport(self) -> httpx.AsyncBaseTransport:
        if self._inner is not None:
            return self._inner
        if self._pass is None:
            self._pass = httpx.AsyncHTTPTransport()
            self._pools.append(self._pass)
        return self._pass

    async def aclose(self) -> None:
        """Stop the resolvers and close the connection pools (and ``inner``, if given)."""
        upstreams, self._upstreams = list(self._upstreams.values()), {}
        for upstream in upstreams:
            self.metrics.remove(upstream.statistics)
            await upstream.aclose()
        pools, self._pools = self._pools, []
        for pool in pools:
            await pool.aclose()
        if self._inner is not None:
            await self._inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"SeawallTransport({', '.join(self.names)})"
