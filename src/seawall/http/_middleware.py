"""The governance chain for any ASGI app (FastAPI, Starlette, ...) as one pure-ASGI middleware.

Routes are matched on the raw path against the templates given in ``routes`` (``"GET /items/{id}"``
or ``"/items/{id}"``); everything else runs under the default policy with the metrics label
``route="*"``, so label sets stay bounded. Rejections are decided before the inner app sees the
request. The middleware never buffers or rewrites a response it lets through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final, final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from seawall._clock import MONOTONIC, Clock
from seawall.deadline import _current as _deadline_var
from seawall.deadline import parse_header as parse_deadline
from seawall.errors import DeadlineExceeded, Rejected
from seawall.http._chain import Chain, CheckFactory, RouteInfo, admit, admit_async, compile_chain
from seawall.http._checks import BUILTIN_FACTORIES, Governance
from seawall.http._governance_metrics import GovernanceCollector
from seawall.http._metrics import RequestMetrics, RouteStats
from seawall.http._policy import DEFAULT_POLICY, Policy
from seawall.http._router import Router
from seawall.http._service import _send_error
from seawall.http._timeouts import TimeoutWheel
from seawall.load import CpuProbe

__all__ = ["SeawallMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_ANY: Final = "*"


@final
class _Guard:
    __slots__ = ("chain", "stats")

    def __init__(self, chain: Chain, stats: RouteStats) -> None:
        self.chain = chain
        self.stats = stats


@final
class SeawallMiddleware:
    """Wrap an ASGI app with seawall's governance chain and request metrics.

    Args:
        app: the inner ASGI application.
        policy: the policy of paths not listed in ``routes``.
        routes: policies by route template, optionally prefixed by a method.
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
        clock: Clock = MONOTONIC,
        cpu_probe: CpuProbe | None = None,
        redis_url: str | None = None,
        check_factories: tuple[CheckFactory, ...] = (),
        metrics_path: str | None = "/metrics",
    ) -> None:
        self.app = app
        self.name = name
        self.clock = clock
        self.governance = Governance(clock, cpu_probe=cpu_probe, redis_url=redis_url)
        self.factories = (*BUILTIN_FACTORIES, *check_factories)
        self.metrics = RequestMetrics()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.metrics)
        self.registry.register(GovernanceCollector(self.governance))
        self.metrics_path = metrics_path
        self.wheel = TimeoutWheel(clock=clock)
        self._router: Router[dict[str, _Guard]] = Router()
        for key, route_policy in (routes or {}).items():
            method, _, template = key.rpartition(" ")
            method = method.upper() or _ANY
            guards = self._router.get(template)
            if guards is None:
                guards = {}
                self._router.add(template, guards)
            guards[method] = self._guard(template, method, route_policy)
        self._default = self._guard(_ANY, _ANY, policy)
        self._started = False

    def _guard(self, template: str, method: str, policy: Policy) -> _Guard:
        info = RouteInfo(template, method, self.name, self.governance)
        return _Guard(compile_chain(policy, info, self.factories), self.metrics.route(template, method))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._started:  # start the CPU probe on first use (no lifespan dependency)
            self._started = True
            self.governance.start()
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
        if found is not None:
            guards, params = found
            scope.setdefault("path_params", params)
            method = scope["method"]
            guard = (
                guards.get(method)
                or (guards.get("GET") if method == "HEAD" else None)  # HEAD is governed like GET
                or guards.get(_ANY)
                or self._default
            )
        await self._run(guard, scope, receive, send)

    async def _run(self, guard: _Guard, scope: Scope, receive: Receive, send: Send) -> None:
        now = self.clock.now
        chain, stats = guard.chain, guard.stats
        start = now()
        head = scope["method"] == "HEAD"
        try:
            exits = admit(chain, scope)
            if chain.async_checks:
                await admit_async(chain, scope, exits)
        except Rejected as exc:  # the checks have released what they took
            stats.reject(exc.reason, exc.check)
            stats.observe(await _send_error(send, exc, head), now() - start)
            return
        status = 500
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
            await send(message)

        timeout = chain.policy.timeout
        incoming = parse_deadline(scope["headers"]) if timeout is not None else None
        if incoming is not None:
            incoming -= now() - start  # time spent in admission (queues, pacing) counts
        if incoming is not None and timeout is not None and incoming < timeout:
            timeout = incoming
        stats.in_flight += 1
        watch = token = None
        try:
            if timeout is not None and timeout <= 0:
                raise DeadlineExceeded("the request's deadline had passed on arrival", check="deadline")
            if timeout is not None:
                watch = self.wheel.watch(timeout)
                token = _deadline_var.set(watch)
            await self.app(scope, receive, send_wrapper)
        except asyncio.CancelledError:
            if watch is None or not watch.expired or watch.task is None:
                raise
            watch.task.uncancel()
            stats.reject("DEADLINE_EXCEEDED", "timeout")
            if not started:
                status = await _send_error(
                    send, DeadlineExceeded(f"exceeded {watch.timeout:g}s", check="timeout"), head
                )
        except DeadlineExceeded as exc:
            stats.reject(exc.reason, exc.check)
            status = await _send_error(send, exc, head)
        finally:
            if watch is not None:
                self.wheel.done(watch)
            if token is not None:
                _deadline_var.reset(token)
            stats.in_flight -= 1
            for ex in exits:
                ex(status)
            if chain.policy.metrics:
                stats.observe(status, now() - start)
