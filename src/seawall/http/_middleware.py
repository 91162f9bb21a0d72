"""seawall's governance for any ASGI app (FastAPI, Starlette, ...) as one pure-ASGI middleware.

Routes are matched on the raw path against the templates given in ``routes`` (``"GET /items/{id}"``
or ``"/items/{id}"``); everything else runs under the default policy with the metrics label
``route="*"``, so label sets stay bounded. Calls go through the same guarded path as a
:class:`~seawall.http.Service` route (admission before the inner app sees the request, deadline,
outcome, accounting, fallbacks), so both answer the same situation with the same status,
headers and metrics. The middleware never buffers or rewrites a response it lets through.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any, Final, final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from seawall._clock import MONOTONIC, Clock
from seawall.errors import HTTPError, Rejected
from seawall.governance import CheckFactory, Fallback, GovernanceCollector, Governor, Guard, KeyFn, Policy
from seawall.http._endpoint import send_error
from seawall.http._metrics import RequestMetrics
from seawall.http._policy import DEFAULT_POLICY
from seawall.http._request import Request
from seawall.http._response import encode_result
from seawall.http._router import Router
from seawall.load import CpuProbe

__all__ = ["SeawallMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_ANY: Final = "*"
logger = logging.getLogger("seawall.http")
_START: Final = "http.response.start"


@final
class _Exchange:
    """What the middleware tracks of one passed-through response."""

    __slots__ = ("started", "status")

    def __init__(self) -> None:
        self.started = False
        self.status = 500


@final
class _InnerApp:
    """The middleware's :class:`~seawall.governance.Transport`: the inner app is the work."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def invoke(self, call: Request) -> int:
        exchange = _Exchange()
        send = call.send

        async def send_wrapper(message: Message) -> None:
            if message["type"] == _START:
                exchange.status = message["status"]
                exchange.started = True
            await send(message)

        call.scope["seawall.exchange"] = exchange
        await self.app(call.scope, call.receive, send_wrapper)
        return exchange.status

    def status(self, result: int) -> int:
        return result

    async def answer(self, call: Request, error: HTTPError) -> int:
        exchange = call.scope.get("seawall.exchange")
        if exchange is not None and exchange.started:
            # The inner app already started its response (e.g. a deadline hit mid-body): a second
            # start is not allowed; returning leaves the response unfinished and the server
            # closes the connection, which the client sees as a failed response.
            return error.status
        return await send_error(call.send, error, call.head)

    async def degrade(self, call: Request, rejection: Rejected, value: Any) -> int:
        exchange = call.scope.get("seawall.exchange")
        if exchange is not None and exchange.started:
            return rejection.status
        status, headers, body = encode_result(value)
        headers.append((b"x-seawall-fallback", rejection.reason.encode()))
        await call.send({"type": _START, "status": status, "headers": headers})
        await call.send({"type": "http.response.body", "body": b"" if call.head else body})
        return status


@final
class SeawallMiddleware:
    """Wrap an ASGI app with seawall's governance and request metrics.

    Args:
        app: the inner ASGI application.
        name: the app's name (shared-limit keys).
        policy: the policy of paths not listed in ``routes``.
        routes: policies by route template, optionally prefixed by a method.
        fallbacks: ``fn(request, rejection)`` by the same keys as ``routes``, answering rejections.
        metrics_path: where to serve Prometheus metrics (``None`` to not serve them; read
            ``middleware.registry`` yourself).

    Example::

        app = FastAPI()
        app.add_middleware(SeawallMiddleware, routes={"GET /work": Policy(shedding=SheddingPolicy())})
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        name: str = "asgi",
        policy: Policy = DEFAULT_POLICY,
        routes: Mapping[str, Policy] | None = None,
        fallbacks: Mapping[str, Fallback] | None = None,
        clock: Clock = MONOTONIC,
        rng: random.Random | None = None,
        cpu_probe: CpuProbe | None = None,
        redis_url: str | None = None,
        check_factories: Sequence[tuple[str, CheckFactory]] = (),
        key_functions: Mapping[str, KeyFn] | None = None,
        metrics_path: str | None = "/metrics",
    ) -> None:
        self.app = app
        self.name = name
        self.clock = clock
        self.governor = Governor(
            name,
            default=policy,
            clock=clock,
            rng=rng,
            factories=check_factories,
            cpu_probe=cpu_probe,
            redis_url=redis_url,
            logger=logger,
        )
        for key_name, fn in (key_functions or {}).items():
            self.governor.key_function(key_name, fn)
        self.metrics = RequestMetrics(hidden=self.governor.quiet)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.metrics)
        self.registry.register(GovernanceCollector(self.governor.snapshot))
        self.metrics_path = metrics_path
        transport = _InnerApp(app)
        fallbacks = fallbacks or {}
        self._router: Router[dict[str, Guard[Request, int]]] = Router()
        for key, route_policy in (routes or {}).items():
            method, _, template = key.rpartition(" ")
            method = method.upper() or _ANY
            guards = self._router.get(template)
            if guards is None:
                guards = {}
                self._router.add(template, guards)
            guards[method] = self._guard(method, template, transport, route_policy, fallbacks.get(key))
        self._default = self._guard(_ANY, _ANY, transport, None, fallbacks.get(_ANY))
        self._started = False

    def _guard(
        self,
        method: str,
        template: str,
        transport: _InnerApp,
        policy: Policy | None,
        fallback: Fallback | None,
    ) -> Guard[Request, int]:
        stats = self.metrics.route(template, method)
        return self.governor.guard(method, template, transport, stats, policy=policy, fallback=fallback)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._started:  # start governance resources on first use (no lifespan dependency)
            self._started = True
            await self.governor.start()
        if scope["path"] == self.metrics_path:
            body = generate_latest(self.registry)
            headers = [
                (b"content-type", CONTENT_TYPE_LATEST.encode()),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        found = self._router.match(scope["path"])
        guard = self._default
        route = _ANY
        params: dict[str, str] = {}
        if found is not None:
            guards, params = found
            method = scope["method"]
            chosen = (
                guards.get(method)
                or (guards.get("GET") if method == "HEAD" else None)  # HEAD is governed like GET
                or guards.get(_ANY)
            )
            if chosen is not None:
                guard = chosen
                route = chosen.name.partition(" ")[2]
        await guard.run(Request(scope, receive, params, route, send))
