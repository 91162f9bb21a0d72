"""The HTTP service: an ASGI app of typed routes, each behind the governance guard.

The request path, top to bottom (the guard's side is :mod:`seawall.governance._guard`)::

    __call__   static path -> endpoint by dict lookup; else the router (404/405 counted)
    guard.run  admit (checks, cheapest first) -> run under the deadline -> classify -> account
    invoke     build typed arguments -> handler -> encode -> send   (seawall.http._endpoint)

This module must not import optional backends (Redis, OTel); they plug in as checks, and tracing
imports OpenTelemetry only when the configuration turns it on.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from prometheus_client import CollectorRegistry

from seawall._clock import MONOTONIC, Clock
from seawall.errors import MethodNotAllowed, NotFound
from seawall.governance import (
    CheckFactory,
    Fallback,
    GovernanceCollector,
    Governor,
    KeyFn,
    Policy,
    Rule,
    RulesVersion,
)
from seawall.http._builtin import add_builtin_routes
from seawall.http._config import (
    CONFIG_ENV,
    LoggingConfig,
    SeawallConfig,
    TracingConfig,
    file_layer,
    load_config,
)
from seawall.http._endpoint import Endpoint, send_error
from seawall.http._metrics import MetricsDir, RequestMetrics, RouteStats
from seawall.http._policy import BARE, DEFAULT_POLICY
from seawall.http._request import Request
from seawall.http._router import Router
from seawall.load import CpuProbe
from seawall.observe._debug import AdminGate, HeapTracker
from seawall.observe._logging import SECRET_FIELDS, AccessLog, SlowRequestLog, configure_logging
from seawall.observe._observer import RequestObserver
from seawall.observe._telemetry import BuildInfoCollector, RuntimeMonitor
from seawall.observe._tracing import Tracing, otlp_exporter

if TYPE_CHECKING:
    import httpx

__all__ = ["Service"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Any])
KF = TypeVar("KF", bound=KeyFn)
Hook = Callable[[], Awaitable[None] | None]

logger = logging.getLogger("seawall.http")

_EMPTY: Final[dict[str, str]] = {}
#: Set by ``seawall run --workers N``: where workers share metric snapshots.
METRICS_DIR_ENV: Final = "SEAWALL_METRICS_DIR"
#: Set by ``seawall run --log-format`` / ``--log-level``: how each worker sets up logging.
LOG_FORMAT_ENV: Final = "SEAWALL_LOG_FORMAT"
LOG_LEVEL_ENV: Final = "SEAWALL_LOG_LEVEL"
#: The admin token of ``/_seawall/`` when the configuration sets none (``admin.token``).
ADMIN_TOKEN_ENV: Final = "SEAWALL_ADMIN_TOKEN"  # noqa: S105 - a variable's name, not a secret
#: The metrics label of requests that matched no route (a fixed value: cardinality stays bounded).
UNMATCHED: Final = "<unmatched>"
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


class Service:
    """A microservice: typed HTTP routes with governance, health, metrics and OpenAPI.

    A ``Service`` is an ASGI application; serve it with ``seawall run module:service``.

    Args:
        name: the service's name (metrics, logs, OpenAPI title, shared-limit keys).
        policy: the default policy of routes that do not give their own
            (default: concurrency limit 10000, 10 s timeout, metrics).
        clock: the time source of deadlines, limits and latency accounting.
        rng: the randomness source of primitives that draw (seed it in tests).
        check_factories: extra ``(section, factory)`` pairs beyond the registered checks.
        cpu_probe: the CPU signal for adaptive shedding (default: this process's CPU share).
        redis_url: the Redis server of ``backend: redis`` limits (``redis://host:6379/0``).
        config: a configuration (or its file) to apply now; without it the service reads none
            unless ``$SEAWALL_CONFIG`` is set when it starts (``seawall run`` sets it).
        sync_threads: threads that run ``def`` (sync) handlers, off the event loop.

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
        rng: random.Random | None = None,
        check_factories: Sequence[tuple[str, CheckFactory]] = (),
        version: str = "0.1.0",
        cpu_probe: CpuProbe | None = None,
        redis_url: str | None = None,
        config: SeawallConfig | str | os.PathLike[str] | None = None,
        sync_threads: int = 40,
    ) -> None:
        if sync_threads < 1:
            raise ValueError("sync_threads must be >= 1")
        self.name = name
        self.version = version
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
        self.router: Router[dict[str, Endpoint]] = Router()
        self._static = self.router.static
        metrics_dir = os.environ.get(METRICS_DIR_ENV)
        self.metrics = RequestMetrics(
            MetricsDir(metrics_dir) if metrics_dir else None, hidden=self.governor.quiet
        )
        #: GC, event-loop lag, threads, tasks, CPU, memory, descriptors and limits, per worker.
        self.runtime = RuntimeMonitor(metrics_dir=metrics_dir)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.metrics)
        self.registry.register(GovernanceCollector(self.governor.snapshot))
        self.registry.register(self.runtime.collector)
        self.registry.register(BuildInfoCollector())
        #: Traces and request logs of the routes (``None``: neither configured, nothing per request).
        self.observer: RequestObserver | None = None
        self.tracing: Tracing | None = None
        #: Who may use ``/_seawall/`` (``admin:`` in the configuration, or ``$SEAWALL_ADMIN_TOKEN``).
        self.admin_gate = AdminGate(token=os.environ.get(ADMIN_TOKEN_ENV))
        self.heap_tracker = HeapTracker()
        self.secret_fields: tuple[str, ...] = SECRET_FIELDS
        self._executor = ThreadPoolExecutor(max_workers=sync_threads, thread_name_prefix=f"{name}-sync")
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self.config: SeawallConfig | None = None
        self.ready = False
        self.draining = False
        self.routes_changed = True
        self._tasks: set[asyncio.Task[None]] = set()
        add_builtin_routes(self)
        if config is not None:
            self.configure(config)

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
                ``X-Seawall-Fallback: <REASON>``. It gets the request's remaining deadline, at
                least 50 ms, after which the rejection's error is answered instead.
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
        """Register ``fn(request) -> key`` for per-client limits as key spec ``fn:<name>``.

        Register it before the routes that use it. The function receives the
        :class:`~seawall.http.Request` (any :class:`~seawall.governance.Call`).

        Example::

            @service.key_function("tenant")
            def tenant(request):
                return request.header("x-tenant") or ""
        """

        def decorator(fn: KF) -> KF:
            self.governor.key_function(name, fn)
            return fn

        return decorator

    def _add(
        self, path: str, method: str, fn: Callable[..., Any], policy: Policy | None, fallback: Fallback | None
    ) -> None:
        methods = self._methods(path, method)
        ep = Endpoint(path, method, fn, executor=self._executor)
        ep.guard = self.governor.guard(
            method, path, ep, self.metrics.route(path, method), policy=policy, fallback=fallback
        )
        ep.guard.observer = self.observer.installable if self.observer is not None else None
        methods[method] = ep
        self.routes_changed = True

    def add_builtin(self, path: str, fn: Callable[..., Any]) -> None:
        """Register a built-in ``GET`` endpoint: BARE, inline, outside rules and metrics."""
        methods = self._methods(path, "GET")
        ep = Endpoint(path, "GET", fn, inline=True)
        ep.guard = self.governor.guard("GET", path, ep, RouteStats(path, "GET"), policy=BARE, fallback=None)
        methods["GET"] = ep

    def _methods(self, path: str, method: str) -> dict[str, Endpoint]:
        methods = self.router.get(path)
        if methods is None:
            methods = {}
            self.router.add(path, methods)
        if method in methods:
            raise ValueError(f"{method} {path} is already registered")
        return methods

    def client(self, name: str, **overrides: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` for dependency ``name``, governed by ``seawall.http.client``.

        Call ``await client.get("/items/1")`` (or ``"http://inventory/items/1"``). The dependency
        comes from ``dependencies.<name>`` of ``seawall.yaml`` (instances or DNS, timeout, retries,
        breaker, bulkhead, balancer), read at the first call, with ``overrides`` (fields of
        :class:`~seawall.http.client.Dependency`: ``instances=``, ``timeout=``, ``fallback=``...)
        on top. One client per name, its pool reused, closed at shutdown; its figures are on
        ``/metrics`` as ``seawall_http_client_*``.

        Example::

            inventory = service.client("inventory", fallback=lambda request, rejection: {"stock": None})

            @service.get("/orders/{id}")
            async def order(id: int) -> dict[str, object]:
                stock = (await inventory.get(f"/items/{id}")).json()
                return {"id": id, "stock": stock}
        """
        from seawall.http.client._clients import ServiceClients

        clients: ServiceClients | None = self.__dict__.get("_clients")
        if clients is None:
            clients = self._clients = ServiceClients(self)
            self.on_shutdown(clients.aclose)
        return clients.get(name, overrides)

    def endpoints(self) -> list[Endpoint]:
        """Every registered endpoint, in registration order (static routes first)."""
        return [ep for _, methods in self.router for ep in methods.values()]

    # -- rules ----------------------------------------------------------------------------------

    def recompile(
        self, policies: Mapping[str, Rule | None] | None = None, *, default: Rule | None = None
    ) -> RulesVersion:
        """Change rules at run time (the runtime layer), atomically; requests in flight are unaffected.

        Only the routes named change: their runtime rule becomes ``policies[key]`` (a whole
        :class:`Policy` replaces, a mapping of sections overrides those; ``None`` removes the
        runtime rule). Code and file rules of other routes are kept. Limiters whose section is
        unchanged keep their state; resources no route uses any more are closed.

        Args:
            policies: rules by route key (``"GET /hello"`` or ``"/hello"``).
            default: a rule for routes without a policy of their own.

        Raises:
            ConfigError: a key matches no route, or a rule cannot be compiled; nothing changed.
        """
        return self.governor.apply(runtime=policies or {}, runtime_default=default, note="recompile")

    def rollback(self, version: int | None = None) -> RulesVersion:
        """Go back to an earlier rules version (default: the previous one), as a new version."""
        return self.governor.rollback(version)

    def configure(self, cfg: SeawallConfig | str | os.PathLike[str] | None = None) -> SeawallConfig:
        """Apply a configuration: its ``default:`` and ``routes:`` become the file layer of rules.

        Args:
            cfg: a loaded configuration, a file path, or ``None`` for ``SEAWALL_*`` overrides only.

        Raises:
            ConfigError: the configuration is invalid or does not fit this service's routes.
        """
        if cfg is None or isinstance(cfg, str | os.PathLike):
            cfg = load_config(None if cfg is None else Path(cfg))
        if cfg.redis_url:
            self.governor.redis_url = cfg.redis_url
        self.governor.apply(file=file_layer(cfg), note="configure")
        self._configure_operations(cfg)
        self.config = cfg
        return cfg

    def _configure_operations(self, cfg: SeawallConfig) -> None:
        """Tracing, request logs and the admin gate from ``tracing:``, ``logging:`` and ``admin:``."""
        self.admin_gate = AdminGate(
            token=cfg.admin.token or os.environ.get(ADMIN_TOKEN_ENV),
            trusted_proxies=cfg.admin.trusted_proxies,
        )
        self.secret_fields = (*SECRET_FIELDS, *cfg.logging.secret_fields)
        old = self.tracing
        self.tracing = self._build_tracing(cfg.tracing)
        if old is not None:
            old.shutdown()
        self.set_observer(_request_observer(self.tracing, cfg.logging, self.clock))

    def _build_tracing(self, cfg: TracingConfig | None) -> Tracing | None:
        if cfg is None:
            return None
        exporter = otlp_exporter(cfg.otlp_endpoint) if cfg.otlp_endpoint else None
        return Tracing(service_name=self.name, sample_ratio=cfg.sample_ratio, exporter=exporter)

    def set_observer(self, observer: RequestObserver | None) -> None:
        """Trace and log every route's requests with ``observer`` (``None``: stop); applies to
        the next request. :meth:`configure` does this from ``tracing:`` and ``logging:``."""
        if observer is not None and not observer.active:
            observer = None
        self.observer = observer
        installed = observer.installable if observer is not None else None
        for target in self.governor.targets():
            target.guard.observer = installed

    # -- lifecycle ------------------------------------------------------------------------------

    def on_startup(self, fn: Hook) -> Hook:
        """Run ``fn`` (sync or async) when the server starts, before the service is ready."""
        self._startup.append(fn)
        return fn

    def on_shutdown(self, fn: Hook) -> Hook:
        """Run ``fn`` when the server stops, after requests have drained."""
        self._shutdown.append(fn)
        return fn

    def begin_drain(self) -> None:
        """Start draining: ``/readyz`` answers 503 from now on; requests are still served."""
        if not self.draining:
            logger.info("%s: draining, /readyz now 503", self.name)
        self.draining = True

    async def startup(self) -> None:
        """Apply ``$SEAWALL_CONFIG`` (if set and not configured yet), start governance, run the
        startup hooks, then mark the service ready."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # `seawall run` sends SIGUSR1 to every worker on SIGTERM; installed before the hooks
            # run so that a drain during startup is a drain, not SIGUSR1's default (exit).
            loop.add_signal_handler(signal.SIGUSR1, self.begin_drain)
        if self.config is None and CONFIG_ENV in os.environ:
            self.configure(os.environ[CONFIG_ENV] or None)
        self._setup_logging()
        await self.governor.start()
        self.runtime.start()  # in the worker: claims its worker index
        try:
            for fn in self._startup:
                if inspect.isawaitable(r := fn()):
                    await r
        except BaseException:
            await self.runtime.stop()
            raise
        if self.metrics.shared_dir is not None:
            self._spawn(self._flush_metrics())
        self.ready = True

    def _setup_logging(self) -> None:
        """JSON or console logs when ``seawall run --log-format`` or ``logging.format`` asks."""
        cfg = self.config.logging if self.config is not None else LoggingConfig()
        fmt = os.environ.get(LOG_FORMAT_ENV) or cfg.format
        if fmt is None:
            return
        configure_logging(
            format="console" if fmt == "console" else "json",
            level=os.environ.get(LOG_LEVEL_ENV) or cfg.level,
            secret_fields=self.secret_fields,
        )

    async def shutdown(self) -> None:
        """Run the shutdown hooks, stop governance resources, flush metrics."""
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for fn in self._shutdown:
            if inspect.isawaitable(r := fn()):
                await r
        await self.governor.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.metrics.flush()
        await self.runtime.stop()
        if self.tracing is not None:  # flushes pending spans: blocking I/O, off the loop
            await asyncio.to_thread(self.tracing.shutdown)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_metrics(self) -> None:
        while True:
            await self.clock.sleep(0.5)
            self.metrics.flush()
            self.runtime.flush()

    # -- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            methods = self._static.get(scope["path"])
            if methods is not None and (ep := methods.get(scope["method"])) is not None:
                await ep.guard.run(Request(scope, receive, _EMPTY, ep.route, send))
                return
            await self._dispatch(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        # websockets are not served (yet): returning closes the connection

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        head = method == "HEAD"
        found = self.router.match(scope["path"])
        if found is None:
            await self._unmatched_error(method, send, NotFound(f"no route for {scope['path']}"), head)
            return
        methods, params = found
        ep = methods.get(method) or (methods.get("GET") if head else None)
        if ep is None:
            allow = sorted({*methods, *(["HEAD"] if "GET" in methods else [])})
            await self._unmatched_error(
                method, send, MethodNotAllowed(allow, f"{method} is not allowed here"), head
            )
            return
        await ep.guard.run(Request(scope, receive, params, ep.route, send, ep.converters))

    async def _unmatched_error(
        self, method: str, send: Send, exc: NotFound | MethodNotAllowed, head: bool
    ) -> None:
        start = self.clock.now()
        status = await send_error(send, exc, head)
        stats = self.metrics.route(UNMATCHED, method if method in _METHODS else "OTHER")
        stats.observe(status, self.clock.now() - start)

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


def _request_observer(tracing: Tracing | None, cfg: LoggingConfig, clock: Clock) -> RequestObserver | None:
    access = AccessLog(sample_rate=cfg.access_sample_rate) if cfg.access_sample_rate > 0 else None
    slow = (
        SlowRequestLog(threshold=cfg.slow_request_threshold, clock=clock)
        if cfg.slow_request_threshold is not None
        else None
    )
    observer = RequestObserver(tracing=tracing, access=access, slow=slow)
    return observer if observer.active else None
