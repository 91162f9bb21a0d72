"""A service's clients: ``service.client(name)``, one per dependency, closed at shutdown."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, final

import httpx

from seawall.http.client._dependency import Dependency
from seawall.http.client._metrics import ClientMetrics
from seawall.http.client._transport import SeawallTransport

if TYPE_CHECKING:
    from seawall.http._service import Service

__all__ = ["ServiceClients"]

_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(Dependency)) - {"name"}
_NONE: Final[Mapping[str, str]] = {}


@final
class ServiceClients:
    """The clients of one service, by dependency name, sharing its governor and ``/metrics``.

    Each client is an ``httpx.AsyncClient`` with ``base_url="http://<name>"`` on its own
    :class:`SeawallTransport` (its own connection pool). The dependency is built at the first
    call, from the service's configuration as it is then (``seawall run`` applies
    ``seawall.yaml`` at startup, after the module that asked for the client was imported), with
    the code-level overrides on top.
    """

    __slots__ = ("_clients", "metrics", "service")

    def __init__(self, service: Service) -> None:
        self.service = service
        self.metrics = ClientMetrics()
        service.registry.register(self.metrics)
        self._clients: dict[str, tuple[httpx.AsyncClient, dict[str, Any]]] = {}

    def get(self, name: str, overrides: dict[str, Any]) -> httpx.AsyncClient:
        """The client of dependency ``name`` (made on first use).

        Raises:
            TypeError: an override names no :class:`Dependency` field.
            ValueError: the client exists with other overrides.
        """
        key = name.lower()
        known = self._clients.get(key)
        if known is not None:
            if overrides and overrides != known[1]:
                raise ValueError(f"the client of {name!r} was already made with other overrides")
            return known[0]
        unknown = sorted(set(overrides) - _FIELDS)
        if unknown:  # values are checked when the dependency is built, at the first call
            raise TypeError(f"unknown Dependency field(s): {', '.join(unknown)}")
        transport = SeawallTransport(
            service=self.service.name, governor=self.service.governor, metrics=self.metrics, trace=self._trace
        )
        transport.add(lambda: self._dependency(name, overrides), name=name)
        # No httpx timeouts: the dependency's deadline (10 s by default) bounds every call.
        client = httpx.AsyncClient(transport=transport, base_url=f"http://{key}", timeout=None)  # noqa: S113
        self._clients[key] = (client, dict(overrides))
        return client

    def _trace(self) -> Mapping[str, str]:
        tracing = self.service.tracing
        return tracing.inject(None) if tracing is not None else _NONE

    def _dependency(self, name: str, overrides: dict[str, Any]) -> Dependency:
        config = self.service.config
        declared = config.dependency(name) if config is not None else None
        return Dependency.from_config(name, declared, clock=self.service.clock, **overrides)

    async def aclose(self) -> None:
        """Close every client (their pools and resolvers)."""
        clients, self._clients = self._clients, {}
        for client, _ in clients.values():
            await client.aclose()
