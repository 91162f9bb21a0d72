"""The built-in endpoints every service has: ``/healthz``, ``/readyz``, ``/metrics``,
``/openapi.json``. They run BARE (no checks, no metrics) and inline on the event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from seawall.errors import HTTPError
from seawall.http._openapi import openapi_document
from seawall.http._response import Response

if TYPE_CHECKING:
    from seawall.http._service import Service

__all__ = ["add_builtin_routes"]


def add_builtin_routes(service: Service) -> None:
    """Register the built-in endpoints on ``service``."""

    def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    def readyz() -> Response:
        if service.draining or not service.ready:
            why = "draining" if service.draining else "starting"
            raise HTTPError(f"{service.name} is {why}", reason="NOT_READY")
        return Response(b'{"status":"ready"}', media_type="application/json")

    def metrics() -> Response:
        return Response(generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)

    cache: list[bytes] = []

    def openapi() -> Response:
        if not cache or service.routes_changed:
            cache[:] = [openapi_document(service)]
            service.routes_changed = False
        return Response(cache[0], media_type="application/json")

    for path, fn in (
        ("/healthz", healthz),
        ("/readyz", readyz),
        ("/metrics", metrics),
        ("/openapi.json", openapi),
    ):
        service.add_builtin(path, fn)
