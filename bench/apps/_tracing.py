"""Shared by the tracing bench apps: the hello route with the default chain, traced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from seawall import Service
from seawall.observe import RequestObserver, Tracing


class NullExporter(SpanExporter):
    """Accepts every batch and drops it: the cost measured is seawall's and the SDK's, not a
    collector's network round trip."""

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def traced_hello(name: str, sample_ratio: float) -> Service:
    """``GET /hello`` (default chain, as examples.hello) traced at ``sample_ratio`` through the
    same observer a ``tracing:`` configuration installs, exporting through a batch processor."""
    service = Service(name)

    @service.get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

    tracing = Tracing(service_name=name, sample_ratio=sample_ratio, exporter=NullExporter())
    service.set_observer(RequestObserver(tracing=tracing))
    return service
