"""The world of ``seawall demo``: its services, the traffic and faults of its phases, the servers.

A gateway in front of a catalog and three inventory instances: plain seawall services, written
the way a user would write them. Only the faults are simulated (an instance answering 500, a
database that stops answering), switched by :meth:`Topology.fault` as the phases change. The
services run on granian's embedded server, all in one process and event loop
(:class:`Servers`), their log lines shown as they come (:class:`LogEcho`).
:mod:`seawall.cli._demo` drives them and reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, final

import httpx
from rich.console import Console
from rich.text import Text

from seawall import BulkheadPolicy, Policy, RateLimitPolicy, Response, Service
from seawall._clock import MONOTONIC, Clock
from seawall.errors import InternalError, NotFound, Rejected
from seawall.governance import BreakerPolicy
from seawall.http.client import OutlierPolicy
from seawall.parallel import gather
from seawall.retry import RetryPolicy

__all__ = [
    "ABUSER",
    "FALLBACK_HEADER",
    "HOST",
    "PHASES",
    "PRODUCTS",
    "TRANSITION",
    "Database",
    "DemoError",
    "LogEcho",
    "Phase",
    "Servers",
    "Settings",
    "Topology",
    "build",
    "echo_logs",
    "free_ports",
]

HOST: Final = "127.0.0.1"
#: The message seawall's breaker check logs on a transition (name, old state, new state).
TRANSITION: Final = "circuit breaker of %s: %s -> %s"
FALLBACK_HEADER: Final = "x-seawall-fallback"
#: The user who sends far more than the per-user rate limit allows.
ABUSER: Final = "mallory"
#: The catalog: id -> (name, price).
PRODUCTS: Final[dict[int, tuple[str, float]]] = {
    1: ("sea kayak", 899.0),
    2: ("paddle", 79.5),
    3: ("dry bag", 24.9),
    4: ("life vest", 119.0),
    5: ("spray skirt", 65.0),
    6: ("bilge pump", 39.9),
    7: ("tow line", 29.0),
    8: ("deck compass", 149.0),
}


class DemoError(Exception):
    """The demo could not run (a port could not be bound, a service did not start)."""


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of the scenario: its traffic; :meth:`Topology.fault` knows its fault by ``key``.

    Attributes:
        key: a short name.
        title: what happens, as the progress shows it.
        rate: requests/s of the regular users, spread evenly over ``users`` of them.
        users: how many regular users send them.
        abuse: requests/s of :data:`ABUSER`.
    """

    key: str
    title: str
    rate: float
    users: int
    abuse: float = 0.0


#: The scenario, in order; each phase lasts a fifth of the duration.
PHASES: Final = (
    Phase("steady", "steady traffic", rate=40, users=20),
    Phase("spike", "a spike: 4.5x the users, and mallory floods", rate=180, users=90, abuse=60),
    Phase("failing", "inventory #1 answers 500 to everything", rate=40, users=20),
    Phase("outage", "every inventory instance hangs", rate=40, users=20),
    Phase("recovery", "inventory is back", rate=40, users=20),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """How the demo's services are governed and how fast their databases are.

    The three inventory databases (one connection, ~20 ms per query each) serve about 150
    queries/s: the steady 40 requests/s use a quarter of that, the spike's 180 + the abuser's
    admitted 10 are more than it.
    """

    user_rate: float = 10.0
    user_burst: int = 20
    max_concurrent: int = 8
    max_queue: int = 8
    max_wait: float = 0.05
    route_timeout: float = 0.5
    call_timeout: float = 0.2
    breaker_wait: float = 1.0
    ejection_time: float = 1.0
    db_connections: int = 1
    db_latency: float = 0.02


@final
class Database:
    """A simulated database: at most ``connections`` queries at once, each taking between half
    and one and a half times ``latency``. While ``stalled``, queries hang (the caller's deadline
    cuts them off)."""

    __slots__ = ("_clock", "_pool", "_resume", "_rng", "latency")

    def __init__(self, *, connections: int, latency: float, clock: Clock, rng: random.Random) -> None:
        self.latency = latency
        self._clock = clock
        self._rng = rng
        self._pool = asyncio.Semaphore(connections)
        self._resume = asyncio.Event()
        self._resume.set()

    @property
    def stalled(self) -> bool:
        return not self._resume.is_set()

    @stalled.setter
    def stalled(self, value: bool) -> None:
        if value:
            self._resume.clear()
        else:
            self._resume.set()

    async def query(self) -> None:
        async with self._pool:
            await self._resume.wait()
            await self._clock.sleep(self.latency * (0.5 + self._rng.random()))


@final
class Topology:
    """The demo's services, and the switches of their faults."""

    __slots__ = ("catalog", "gateway", "inventory", "inventory_dbs", "inventory_failing")

    def __init__(
        self,
        gateway: Service,
        catalog: Service,
        inventory: Sequence[Service],
        inventory_dbs: Sequence[Database],
        inventory_failing: list[bool],
    ) -> None:
        self.gateway = gateway
        self.catalog = catalog
        self.inventory = tuple(inventory)
        self.inventory_dbs = tuple(inventory_dbs)
        #: ``inventory_failing[i]``: instance ``i`` answers every request with 500.
        self.inventory_failing = inventory_failing

    @property
    def services(self) -> tuple[Service, ...]:
        return (self.gateway, self.catalog, *self.inventory)

    def fault(self, phase: str, *, on: bool) -> None:
        """Start (``on``) or end the fault of ``phase``: inventory #1 failing, every database stalled."""
        if phase == "failing":
            self.inventory_failing[0] = on
        elif phase == "outage":
            for db in self.inventory_dbs:
                db.stalled = on


def _catalog(clock: Clock, gateway_address: str) -> Service:
    catalog = Service("catalog", clock=clock)
    gateway = catalog.client("gateway", instances=[gateway_address], timeout=0.5, retries=None)

    @catalog.get("/items/{id}")
    async def item(id: int) -> dict[str, object]:
        if id not in PRODUCTS:
            raise NotFound(f"no product {id}")
        name, price = PRODUCTS[id]
        return {"id": id, "name": name, "price": price}

    @catalog.get("/related/{id}")
    async def related(id: int) -> Response:
        # A misconfiguration on purpose: "related products" asks the gateway, which asks us.
        answer = await gateway.get(f"/products/{id}/related")
        return Response(answer.content, status=answer.status_code, media_type="application/json")

    return catalog


def _inventory(index: int, db: Database, failing: list[bool], clock: Clock) -> Service:
    inventory = Service("inventory", clock=clock)

    @inventory.get("/stock/{id}")
    async def stock(id: int) -> dict[str, int]:
        if failing[index]:
            raise InternalError("simulated failure: this instance lost its database")
        await db.query()
        return {"id": id, "stock": (id * 7 + 3) % 20}

    return inventory


def unknown_stock(request: httpx.Request, rejection: Rejected) -> dict[str, object]:
    """The inventory client's fallback: stock unknown (breaker open, deadline spent)."""
    return {"stock": None}


def _reason(response: httpx.Response) -> str:
    """The ``reason`` of a seawall error body, else ``HTTP_<status>``."""
    try:
        reason = response.json().get("reason")
    except ValueError:
        reason = None
    return reason if isinstance(reason, str) else f"HTTP_{response.status_code}"


def _gateway(
    s: Settings, clock: Clock, rng: random.Random, catalog_address: str, inventory: Sequence[str]
) -> Service:
    gateway = Service("gateway", clock=clock, rng=rng)
    catalog_client = gateway.client("catalog", instances=[catalog_address], timeout=s.call_timeout)
    inventory_client = gateway.client(
        "inventory",
        instances=list(inventory),
        timeout=s.call_timeout,
        # One retry, on another instance, after at most 5 ms (no backoff worth waiting for
        # within a 200 ms call), if 20 ms are left.
        retries=RetryPolicy(max_attempts=2, backoff_base=0.005, min_remaining=0.02),
        # A count window, so that the breaker behaves alike whatever the demo's duration.
        breaker=BreakerPolicy(
            kind="circuit",
            window_type="count",
            window_size=20,
            minimum_calls=10,
            failure_rate_threshold=50,
            wait_duration_in_open=s.breaker_wait,
            permitted_calls_in_half_open=3,
        ),
        outlier=OutlierPolicy(
            consecutive_failures=5, base_ejection_time=s.ejection_time, interval=s.ejection_time
        ),
        fallback=unknown_stock,
    )
    policy = Policy(
        timeout=s.route_timeout,
        rate_limit=RateLimitPolicy(rate=s.user_rate, burst=s.user_burst, key="header:x-user"),
        bulkhead=BulkheadPolicy(max_concurrent=s.max_concurrent, max_queue=s.max_queue, max_wait=s.max_wait),
    )

    @gateway.get("/products/{id}", policy=policy)
    async def product(id: int) -> Response:
        """A product with its stock; ``stock: null`` and ``X-Seawall-Fallback`` when inventory
        cannot say."""
        item, stock = await gather(catalog_client.get(f"/items/{id}"), inventory_client.get(f"/stock/{id}"))
        if item.status_code == 404:
            raise NotFound(f"no product {id}")
        if item.status_code != 200:
            raise InternalError("the catalog failed")
        body = item.json()
        headers: dict[str, str] = {}
        if stock.status_code == 200:
            body["stock"] = stock.json()["stock"]
            reason = stock.headers.get(FALLBACK_HEADER)  # the client's fallback answered
            if reason is not None:
                headers[FALLBACK_HEADER] = reason
        else:  # inventory answered an error even after a retry: degrade the same way
            body["stock"] = None
            headers[FALLBACK_HEADER] = _reason(stock)
        return Response.json(body, headers=headers)

    @gateway.get("/products/{id}/related")
    async def related(id: int) -> Response:
        answer = await catalog_client.get(f"/related/{id}")
        return Response(answer.content, status=answer.status_code, media_type="application/json")

    return gateway


def build(settings: Settings, *, clock: Clock, rng: random.Random, ports: Sequence[int]) -> Topology:
    """The demo's services on ``ports`` (gateway, catalog, then each inventory instance), wired to
    each other (not started)."""
    gateway_port, catalog_port, *inventory_ports = ports
    dbs = [
        Database(
            connections=settings.db_connections,
            latency=settings.db_latency,
            clock=clock,
            rng=random.Random(rng.random()),
        )
        for _ in inventory_ports
    ]
    failing = [False] * len(inventory_ports)
    inventory = [_inventory(i, db, failing, clock) for i, db in enumerate(dbs)]
    catalog = _catalog(clock, f"{HOST}:{gateway_port}")
    gateway = _gateway(
        settings,
        clock,
        random.Random(rng.random()),
        f"{HOST}:{catalog_port}",
        [f"{HOST}:{p}" for p in inventory_ports],
    )
    return Topology(gateway, catalog, inventory, dbs, failing)


# -- serving them ---------------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports that are free now (the kernel's choice)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in sockets:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@final
class Servers:
    """granian's embedded server, one per service, in the running event loop."""

    def __init__(self) -> None:
        self._running: list[tuple[object, asyncio.Task[None]]] = []

    async def start(self, apps: Sequence[tuple[str, Service, int]]) -> None:
        """Serve each ``(name, service, port)`` on :data:`HOST` and wait until all are ready.

        Raises:
            DemoError: a server could not start (its port is taken) or did not become ready.
        """
        from granian.constants import HTTPModes, Interfaces
        from granian.server.embed import Server

        for _, app, port in apps:
            server = Server(
                app,
                address=HOST,
                port=port,
                interface=Interfaces.ASGI,
                http=HTTPModes.http1,
                websockets=False,
                log_enabled=False,
            )
            self._running.append((server, asyncio.create_task(server.serve())))
        async with httpx.AsyncClient(timeout=1.0) as client:
            for (name, _, port), (_, task) in zip(apps, self._running, strict=True):
                await self._ready(client, name, port, task)

    @staticmethod
    async def _ready(client: httpx.AsyncClient, name: str, port: int, task: asyncio.Task[None]) -> None:
        for _ in range(200):
            if task.done():
                error = task.exception()
                detail = str(error).splitlines()[0] if error is not None else "the server stopped"
                raise DemoError(f"cannot serve {name} on {HOST}:{port}: {detail}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://{HOST}:{port}/readyz")).status_code == 200:
                    return
            await MONOTONIC.sleep(0.025)
        raise DemoError(f"{name} on {HOST}:{port} was not ready after 5 s")

    async def stop(self) -> None:
        """Stop the servers one by one, in the order they were started (callers before the
        services they call), each service's shutdown included."""
        running, self._running = self._running, []
        for server, task in running:
            if not task.done():
                server.stop()  # type: ignore[attr-defined]
            with contextlib.suppress(Exception):  # a server that failed to start was reported
                await task


@final
class LogEcho(logging.Handler):
    """Prints seawall's log lines among the progress lines; notes the inventory breaker's
    transitions (which the breaker check logs as they happen)."""

    def __init__(self, console: Console, clock: Clock) -> None:
        super().__init__(logging.INFO)
        self.console = console
        self.clock = clock
        self.t0: float | None = None
        self.transitions: list[tuple[float, str]] = []
        #: Set while the servers stop: an interrupted run's calls in flight fail then.
        self.muted = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.muted:
            return
        now = self.clock.now()
        at = f"{now - self.t0:5.1f}s" if self.t0 is not None else "      "
        self.console.print(Text(f"{at}  log: {record.getMessage()}", style="dim"))
        args = record.args
        if record.msg == TRANSITION and isinstance(args, tuple) and args[:1] == ("inventory",):
            self.transitions.append((now, str(args[-1])))


@contextlib.contextmanager
def echo_logs(console: Console, clock: Clock) -> Iterator[LogEcho]:
    """Route the ``seawall`` loggers to ``console`` while the demo runs."""
    logger = logging.getLogger("seawall")
    level, propagate = logger.level, logger.propagate
    handler = LogEcho(console, clock)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
