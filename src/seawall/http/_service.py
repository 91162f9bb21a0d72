"""The HTTP service: an ASGI app with typed routes, the compiled governance chain and health.

The request path (``Service.__call__`` -> ``Endpoint.handle``) is kept on one screen on purpose:

    admit    the route's compiled checks, cheapest first (rejection decided before the body is read)
    run      the handler under the route's timeout (504 at the deadline)
    account  exits of the checks, then per-route metrics

This module must not import optional backends (Redis, OTel); they plug in as check factories.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, Final, TypeVar, final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from seawall._clock import MONOTONIC, Clock
from seawall.deadline import _current as _deadline_var
from seawall.deadline import parse_header as parse_deadline
from seawall.errors import (
    ConfigError,
    DeadlineExceeded,
    HTTPError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    Rejected,
)
from seawall.http._chain import Chain, CheckFactory, RouteInfo, admit, admit_async, compile_chain
from seawall.http._checks import BUILTIN_FACTORIES, Governance
from seawall.http._config import SeawallConfig, apply_config, load_config
from seawall.http._governance_metrics import GovernanceCollector
from seawall.http._metrics import MetricsDir, RequestMetrics, RouteStats
from seawall.http._openapi import BUILTIN_PATHS, openapi_document
from seawall.http._params import ParamSpec, compile_params
from seawall.http._policy import BARE, DEFAULT_POLICY, Policy
from seawall.http._request import Request
from seawall.http._response import JSON_HEADER, Response, encode_result
from seawall.http._router import Router, parse_template
from seawall.http._timeouts import TimeoutWheel, Watch
from seawall.load import CpuProbe

__all__ = ["Endpoint", "Service"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Any])
KF = TypeVar("KF", bound=Callable[[MutableMapping[str, Any]], Hashable])

logger = logging.getLogger("seawall.http")

_EMPTY: Final[dict[str, str]] = {}
_START: Final = "http.response.start"
_BODY: Final = "http.response.body"
#: Set by ``seawall run --workers N``: where workers share metric snapshots.
METRICS_DIR_ENV: Final = "SEAWALL_METRICS_DIR"


async def _send_error(send: Send, exc: HTTPError, head: bool = False) -> int:
    body = exc.body()
    headers = [JSON_HEADER, (b"content-length", str(len(body)).encode()), *exc.headers]
    await send({"type": _START, "status": exc.status, "headers": headers})
    await send({"type": _BODY, "body": b"" if head else body})
    return exc.status


#: A fallback turns a rejection (limited, shed, timed out, breaker open) into a degraded answer.
Fallback = Callable[[Request, Rejected], Any]
_FALLBACK_HEADER: Final = b"x-seawall-fallback"


@final
class Endpoint:
    """One compiled ``(route, method)``: the handler, its argument builder, chain and stats."""

    __slots__ = (
        "builder",
        "chain",
        "clock",
        "fallback",
        "fn",
        "handle",
        "is_async",
        "method",
        "params",
        "route",
        "stats",
        "wheel",
    )

    def __init__(
        self,
        route: str,
        method: str,
        fn: Callable[..., Any],
        chain: Chain,
        stats: RouteStats,
        clock: Clock,
        wheel: TimeoutWheel,
        fallback: Fallback | None = None,
    ) -> None:
        self.route = route
        self.method = method
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)
        _, names = parse_template(route)
        self.params: list[ParamSpec]
        self.params, self.builder = compile_params(fn, set(names))
        self.clock = clock
        self.wheel = wheel
        self.stats = stats
        self.fallback = fallback
        self.chain = chain
        self.handle: Callable[[Scope, Receive, Send, dict[str, str]], Awaitable[Any]]
        self.set_chain(chain)

    def set_chain(self, chain: Chain) -> None:
        """Swap in a recompiled chain (one assignment: atomic for the event loop)."""
        self.chain = chain
        bare = chain.empty and not chain.policy.metrics
        self.handle = self._respond if bare else self._handle

    async def _handle(self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]) -> None:
        now = self.clock.now
        stats = self.stats
        chain = self.chain
        start = now()
        try:  # admit: cheapest first; nothing of the body has been read yet
            exits = admit(chain, scope)
            if chain.async_checks:
                await admit_async(chain, scope, exits)
        except Rejected as exc:  # the checks have released what they took
            stats.reject(exc.reason, exc.check)
            status = await self._rejected(scope, receive, send, params, exc)
            if chain.policy.metrics:
                stats.observe(status, now() - start)
            return
        stats.in_flight += 1
        status = 500
        try:  # run: the handler under its deadline, then the response
            status = await self._respond(scope, receive, send, params, start)
        finally:  # account
            stats.in_flight -= 1
            for ex in exits:
                ex(status)
            if chain.policy.metrics:
                stats.observe(status, now() - start)

    async def _respond(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str], arrived: float | None = None
    ) -> int:
        """Run the handler (cancelled at its deadline) and send its response; returns the status.

        ``arrived`` is when admission began: time spent since (bulkhead queue, pacing) is taken
        off the caller's deadline.
        """
        timeout = self.chain.policy.timeout
        watch = token = None
        if timeout is not None:
            incoming = parse_deadline(scope["headers"])
            if incoming is not None and arrived is not None:
                incoming -= self.clock.now() - arrived
            if incoming is not None and incoming < timeout:
                if incoming <= 0:  # the caller has already given up: don't run
                    exc = DeadlineExceeded("the request's deadline had passed on arrival", check="deadline")
                    self.stats.reject(exc.reason, exc.check)
                    return await self._rejected(scope, receive, send, params, exc)
                timeout = incoming
            watch = self.wheel.watch(timeout)
            token = _deadline_var.set(watch)
        try:
            if self.builder is None:
                result = self.fn()
            else:
                request = Request(
                    scope, receive, params, route=self.route, max_body=self.chain.policy.max_body
                )
                result = self.fn(**(await self.builder(request)))
            if self.is_async:
                result = await result
            status, headers, body = encode_result(result)
        except BaseException as exc:  # noqa: BLE001 - _fail re-raises what is not ours to answer
            if watch is not None:
                self.wheel.done(watch)
            return await self._fail(exc, watch, scope, receive, send, params)
        finally:
            if token is not None:
                _deadline_var.reset(token)
        if watch is not None:
            self.wheel.done(watch)
        await send({"type": _START, "status": status, "headers": headers})
        await send({"type": _BODY, "body": b"" if scope["method"] == "HEAD" else body})
        return status

    async def _fail(
        self,
        exc: BaseException,
        watch: Watch | None,
        scope: Scope,
        receive: Receive,
        send: Send,
        params: dict[str, str],
    ) -> int:
        head = scope["method"] == "HEAD"
        if isinstance(exc, asyncio.CancelledError):
            if watch is None or not watch.expired or watch.task is None:
                raise exc  # cancelled by the server (client gone, shutdown): not ours to answer
            watch.task.uncancel()
            deadline = DeadlineExceeded(
                f"handler exceeded its deadline of {watch.timeout:g}s", check="timeout"
            )
            self.stats.reject(deadline.reason, deadline.check)
            return await self._rejected(scope, receive, send, params, deadline)
        if isinstance(exc, Rejected):  # e.g. an outbound call's breaker, raised inside the handler
            return await self._rejected(scope, receive, send, params, exc)
        if isinstance(exc, HTTPError):
            return await _send_error(send, exc, head)
        if not isinstance(exc, Exception):
            raise exc
        logger.error("unhandled error in %s %s", self.method, self.route, exc_info=exc)
        return await _send_error(send, InternalError(), head)

    async def _rejected(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str], exc: Rejected
    ) -> int:
        """Answer a rejection: the route's fallback if it has one, else the error body."""
        head = scope["method"] == "HEAD"
        if self.fallback is None:
            return await _send_error(send, exc, head)
        try:
            result = self.fallback(Request(scope, receive, params, route=self.route), exc)
            if inspect.isawaitable(result):
                result = await result
            status, headers, body = encode_result(result)
        except Exception:
            logger.exception("fallback of %s %s failed", self.method, self.route)
            return await _send_error(send, exc, head)
        headers.append((_FALLBACK_HEADER, exc.reason.encode()))
        await send({"type": _START, "status": status, "headers": headers})
        await send({"type": _BODY, "body": b"" if head else body})
        return status


class Service:
    """A microservice: typed HTTP routes with governance, health, metrics and OpenAPI.

    A ``Service`` is an ASGI application; serve it with ``seawall run module:service``.

    Args:
        name: the service's name (metrics, logs, OpenAPI title).
        policy: the default policy of routes that do not give their own
            (default: concurrency limit 10000, 10 s timeout, metrics).
        clock: the time source for latency accounting and time-based checks.
        check_factories: extra check factories appended to the built-in ones.
        cpu_probe: the CPU signal for adaptive shedding (default: this process's CPU share).
        redis_url: the Redis server of ``backend: redis`` limits (``redis://host:6379/0``).

    Example::

        service = Service("hello")

        @service.get("/hello")
        async def hello() -> dict[str, str]:
            return {"message": "hello"}
    """

    def __init__(
        self,
        name: str,
        *,
        policy: Policy = DEFAULT_POLICY,
        clock: Clock = MONOTONIC,
        check_factories: Sequence[CheckFactory] = (),
        version: str = "0.1.0",
        cpu_probe: CpuProbe | None = None,
        redis_url: str | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.policy = policy
        self.clock = clock
        self.factories: tuple[CheckFactory, ...] = (*BUILTIN_FACTORIES, *check_factories)
        self.governance = Governance(clock, cpu_probe=cpu_probe, redis_url=redis_url)
        self.wheel = TimeoutWheel(clock=clock)
        self.router: Router[dict[str, Endpoint]] = Router()
        self._static = self.router.static
        metrics_dir = os.environ.get(METRICS_DIR_ENV)
        self.metrics = RequestMetrics(MetricsDir(metrics_dir) if metrics_dir else None)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.metrics)
        self.registry.register(GovernanceCollector(self.governance))
        self._startup: list[Callable[[], Awaitable[None] | None]] = []
        self._shutdown: list[Callable[[], Awaitable[None] | None]] = []
        self._route_policies: dict[tuple[str, str], Policy | None] = {}
        self.config: SeawallConfig | None = None
        self.ready = False
        self.draining = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._openapi: bytes | None = None
        self._add_builtin_routes()

    # -- routes ---------------------------------------------------------------------------------

    def route(
        self,
        path: str,
        methods: Iterable[str],
        *,
        policy: Policy | None = None,
        fallback: Fallback | None = None,
    ) -> Callable[[F], F]:
        """Register a handler for ``path`` and ``methods``.

        Args:
            policy: this route's governance (default: the service's policy).
            fallback: ``fn(request, rejection)`` answering instead of an error when the request is
                rate limited, shed, timed out or hits an open breaker; its response carries
                ``X-Seawall-Fallback: <REASON>``.
        """

        def decorator(fn: F) -> F:
            for method in methods:
                self._add(path, method.upper(), fn, policy, fallback)
            return fn

        return decorator

    def get(
        self, path: str, *, policy: Policy | None = None, fallback: Fallback | None = None
    ) -> Callable[[F], F]:
        """Register a ``GET`` handler (``HEAD`` is served by it too)."""
        return self.route(path, ["GET"], policy=policy, fallback=fallback)

    def post(
        self, path: str, *, policy: Policy | None = None, fallback: Fallback | None = None
    ) -> Callable[[F], F]:
        """Register a ``POST`` handler."""
        return self.route(path, ["POST"], policy=policy, fallback=fallback)

    def put(
        self, path: str, *, policy: Policy | None = None, fallback: Fallback | None = None
    ) -> Callable[[F], F]:
        """Register a ``PUT`` handler."""
        return self.route(path, ["PUT"], policy=policy, fallback=fallback)

    def patch(
        self, path: str, *, policy: Policy | None = None, fallback: Fallback | None = None
    ) -> Callable[[F], F]:
        """Register a ``PATCH`` handler."""
        return self.route(path, ["PATCH"], policy=policy, fallback=fallback)

    def delete(
        self, path: str, *, policy: Policy | None = None, fallback: Fallback | None = None
    ) -> Callable[[F], F]:
        """Register a ``DELETE`` handler."""
        return self.route(path, ["DELETE"], policy=policy, fallback=fallback)

    def key_function(self, name: str) -> Callable[[KF], KF]:
        """Register ``fn(scope) -> key`` for per-client limits as key spec ``fn:<name>``.

        Register before the routes that use it are compiled (i.e. before adding them).

        Example::

            @service.key_function("tenant")
            def tenant(scope):
                return dict(scope["headers"]).get(b"x-tenant", b"")
        """

        def decorator(fn: KF) -> KF:
            self.governance.key_functions[name] = fn
            return fn

        return decorator

    def _add(
        self,
        path: str,
        method: str,
        fn: Callable[..., Any],
        policy: Policy | None,
        fallback: Fallback | None = None,
    ) -> None:
        methods = self.router.get(path)
        if methods is None:
            methods = {}
            self.router.add(path, methods)
        if method in methods:
            raise ValueError(f"{method} {path} is already registered")
        effective = policy if policy is not None else self.policy
        self._route_policies[(path, method)] = policy
        methods[method] = Endpoint(
            path,
            method,
            fn,
            self._compile(path, method, effective),
            # Built-in endpoints (health, metrics, OpenAPI) stay out of /metrics.
            RouteStats(path, method) if path in BUILTIN_PATHS else self.metrics.route(path, method),
            self.clock,
            self.wheel,
            fallback,
        )
        self._openapi = None

    def _compile(self, path: str, method: str, policy: Policy) -> Chain:
        return compile_chain(policy, RouteInfo(path, method, self.name, self.governance), self.factories)

    def endpoints(self) -> list[Endpoint]:
        """Every registered endpoint, in registration order (static routes first)."""
        return [ep for _, methods in self.router for ep in methods.values()]

    def recompile(
        self, policies: Mapping[str, Policy] | None = None, *, default: Policy | None = None
    ) -> None:
        """Rebuild every route's chain, atomically per route; requests in flight are unaffected.

        Args:
            policies: new policies by route template (``"GET /hello"`` or ``"/hello"``).
            default: a new default policy for routes without their own.
        """
        policies = policies or {}
        endpoints = self.endpoints()
        known = {ep.route for ep in endpoints} | {f"{ep.method} {ep.route}" for ep in endpoints}
        for key in policies:
            if key not in known:
                raise ConfigError(f"no route matches {key!r}", path=f"$.routes[{key!r}]")
        new_default = default if default is not None else self.policy
        chains: list[tuple[Endpoint, Chain]] = []
        for ep in endpoints:
            policy = (
                policies.get(f"{ep.method} {ep.route}")
                or policies.get(ep.route)
                or self._route_policies.get((ep.route, ep.method))
                or new_default
            )
            chains.append((ep, self._compile(ep.route, ep.method, policy)))
        for ep, chain in chains:  # compile all first, then swap: a bad policy changes nothing
            ep.set_chain(chain)
        self.policy = new_default

    # -- lifecycle ------------------------------------------------------------------------------

    def on_startup(self, fn: Callable[[], Awaitable[None] | None]) -> Callable[[], Awaitable[None] | None]:
        """Run ``fn`` (sync or async) when the server starts, before the service is ready."""
        self._startup.append(fn)
        return fn

    def on_shutdown(self, fn: Callable[[], Awaitable[None] | None]) -> Callable[[], Awaitable[None] | None]:
        """Run ``fn`` when the server stops, after requests have drained."""
        self._shutdown.append(fn)
        return fn

    def begin_drain(self) -> None:
        """Start draining: ``/readyz`` answers 503 from now on; requests are still served."""
        if not self.draining:
            logger.info("%s: draining, /readyz now 503", self.name)
        self.draining = True

    def configure(self, cfg: SeawallConfig | None = None) -> SeawallConfig:
        """Apply ``cfg`` (default: the file ``find_config()`` names, if any) to every route."""
        cfg = cfg if cfg is not None else load_config()
        self.config = cfg
        if cfg.redis_url:
            self.governance.redis_url = cfg.redis_url
        apply_config(self, cfg)
        return cfg

    async def startup(self) -> None:
        """Load the configuration, run startup hooks, then mark the service ready."""
        self.configure()
        self.governance.start()
        for fn in self._startup:
            if inspect.isawaitable(r := fn()):
                await r
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # `seawall run` sends SIGUSR1 to every worker when it receives SIGTERM.
            loop.add_signal_handler(signal.SIGUSR1, self.begin_drain)
        if self.metrics.shared_dir is not None:
            self._spawn(self._flush_metrics())
        self.ready = True

    async def shutdown(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for fn in self._shutdown:
            if inspect.isawaitable(r := fn()):
                await r
        await self.governance.stop()
        self.metrics.flush()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_metrics(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.metrics.flush()

    # -- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            methods = self._static.get(scope["path"])
            if methods is not None and (ep := methods.get(scope["method"])) is not None:
                await ep.handle(scope, receive, send, _EMPTY)
                return
            await self._dispatch(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        # websockets are not served (yet): returning closes the connection

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope["method"] == "HEAD"
        found = self.router.match(scope["path"])
        if found is None:
            await _send_error(send, NotFound(f"no route for {scope['path']}"), head)
            return
        methods, params = found
        scope["path_params"] = params  # for path-keyed checks (hotspots)
        ep = methods.get(scope["method"]) or (methods.get("GET") if head else None)
        if ep is None:
            allow = sorted({*methods, *(["HEAD"] if "GET" in methods else [])})
            await _send_error(send, MethodNotAllowed(allow, f"{scope['method']} is not allowed here"), head)
            return
        await ep.handle(scope, receive, send, params)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    logger.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                except Exception as exc:
                    logger.exception("shutdown failed")
                    await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- built-in endpoints ---------------------------------------------------------------------

    def _add_builtin_routes(self) -> None:
        def healthz() -> Response:
            return Response(b'{"status":"ok"}', media_type="application/json")

        def readyz() -> Response:
            if self.draining or not self.ready:
                why = "draining" if self.draining else "starting"
                raise HTTPError(f"{self.name} is {why}", reason="NOT_READY")
            return Response(b'{"status":"ready"}', media_type="application/json")

        def metrics() -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        def openapi() -> Response:
            if self._openapi is None:
                self._openapi = openapi_document(self)
            return Response(self._openapi, media_type="application/json")

        for path, fn in (
            ("/healthz", healthz),
            ("/readyz", readyz),
            ("/metrics", metrics),
            ("/openapi.json", openapi),
        ):
            self._add(path, "GET", fn, BARE)
