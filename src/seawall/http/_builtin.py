"""The built-in endpoints every service has: ``/healthz``, ``/readyz``, ``/metrics``,
``/openapi.json``, and the troubleshooting endpoints under ``/_seawall/debug/``. They run BARE
(no checks, no metrics, no tracing) and inline on the event loop.

The debug endpoints (Go's pprof workflow, see :mod:`seawall.observe._debug`) answer only callers
the service's :class:`~seawall.observe.AdminGate` lets through: loopback clients, or anyone with
the admin token when one is configured; others get 403/401 with the error body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from seawall.errors import BadRequest, HTTPError
from seawall.http._openapi import openapi_document
from seawall.http._request import Request
from seawall.http._response import Response
from seawall.observe._debug import DebugResponse, config_dump, gc_stats, heap, profile, tasks, threads

if TYPE_CHECKING:
    from seawall.http._service import Service

__all__ = ["DEBUG_PREFIX", "add_builtin_routes"]

#: Where the troubleshooting endpoints live.
DEBUG_PREFIX: Final = "/_seawall/debug"

_INDEX: Final = b"""seawall troubleshooting endpoints (loopback or admin token only)

/_seawall/debug/profile?seconds=10&format=speedscope|html
        sampling CPU profile of the event-loop thread (one at a time; 409 while one runs)
/_seawall/debug/heap?top=25[&stop=true]
        tracemalloc top allocation sites and growth since the previous call
/_seawall/debug/tasks     every asyncio task with its stack
/_seawall/debug/threads   every thread's stack
/_seawall/debug/gc        garbage collector counters, thresholds and pause statistics
/_seawall/debug/config    effective configuration and route policies, secrets redacted

CLI: seawall debug profile http://HOST:PORT --seconds 10 -o profile.html
"""


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
    _add_debug_routes(service)


def _answer(out: DebugResponse) -> Response:
    return Response(out.body, media_type=out.content_type)


def _add_debug_routes(service: Service) -> None:
    def admit(request: Request) -> None:
        error = service.admin_gate.check(request.scope)
        if error is not None:
            raise error

    def index(request: Request) -> Response:
        admit(request)
        return Response(_INDEX, media_type="text/plain; charset=utf-8")

    async def profile_(request: Request, seconds: float = 10.0, format: str = "speedscope") -> Response:
        admit(request)
        if format not in ("speedscope", "html"):
            raise BadRequest("format must be speedscope or html", details={"field": "query.format"})
        try:
            return _answer(await profile(seconds, format=format))  # type: ignore[arg-type]
        except ValueError as exc:
            raise BadRequest(str(exc), details={"field": "query.seconds"}) from None

    def heap_(request: Request, top: int = 25, stop: bool = False) -> Response:
        admit(request)
        try:
            return _answer(service.heap_tracker.stop() if stop else heap(top, tracker=service.heap_tracker))
        except ValueError as exc:
            raise BadRequest(str(exc), details={"field": "query.top"}) from None

    def tasks_(request: Request) -> Response:
        admit(request)
        return _answer(tasks())

    def threads_(request: Request) -> Response:
        admit(request)
        return _answer(threads())

    def gc_(request: Request) -> Response:
        admit(request)
        return _answer(gc_stats(service.runtime.gc))

    def config_(request: Request) -> Response:
        admit(request)
        return _answer(config_dump(_effective_config(service), fields=service.secret_fields))

    for path, fn in (
        ("/", index),
        ("/profile", profile_),
        ("/heap", heap_),
        ("/tasks", tasks_),
        ("/threads", threads_),
        ("/gc", gc_),
        ("/config", config_),
    ):
        service.add_builtin(DEBUG_PREFIX + path, fn)


def _effective_config(service: Service) -> dict[str, Any]:
    """What ``/_seawall/debug/config`` shows: the loaded configuration and every route's policy."""
    return {
        "service": service.name,
        "version": service.version,
        "config": service.config,
        "policies": {key: policy.to_builtins() for key, policy in service.governor.effective().items()},
    }
