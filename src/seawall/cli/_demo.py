"""``seawall demo``: five services in one process, a load generator, faults, and what seawall did.

The services of :mod:`seawall.cli._demo_services` are served by granian's embedded server on free
loopback ports, all in this process and event loop, beside an open-loop load generator (seeded
Poisson arrivals). The run goes through five phases of equal length: steady traffic; a spike
with an abusive user; one inventory instance failing; every inventory instance hanging;
recovery. It prints one line per second (and seawall's own log lines), then a summary per phase:
what users got, counted by the load generator, and what seawall did, read from the gateway's
Prometheus registry. It needs no server, network or file beyond the runtime dependencies.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, final

import httpx
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from seawall._clock import MONOTONIC, Clock
from seawall.cli._demo_services import (
    ABUSER,
    FALLBACK_HEADER,
    HOST,
    PHASES,
    PRODUCTS,
    DemoError,
    LogEcho,
    Phase,
    Servers,
    Settings,
    Topology,
    build,
    echo_logs,
    free_ports,
)

__all__ = [
    "DEFAULT_DURATION",
    "MAX_DURATION",
    "MIN_DURATION",
    "DemoError",
    "DemoResult",
    "Figures",
    "PhaseResult",
    "Tally",
    "percentile",
    "run_demo",
]

#: Seconds the demo runs by default, and the range ``--duration`` accepts.
DEFAULT_DURATION: Final = 20.0
MIN_DURATION: Final = 3.0
MAX_DURATION: Final = 600.0
#: The load generator's seed: the same arrivals, users and products on every run.
SEED: Final = 7
#: The route the load generator drives.
ROUTE: Final = "/products/{id}"


@final
class Tally:
    """What users got: for the requests sent in one phase, or answered in one second."""

    __slots__ = (
        "abuser_429",
        "abuser_sent",
        "degraded",
        "failed",
        "full_latencies",
        "latencies",
        "ok",
        "reasons",
        "regular_429",
        "s503",
        "s504",
        "sent",
    )

    def __init__(self) -> None:
        self.sent = 0
        self.ok = 0  # 200 with every field
        self.degraded = 0  # 200 without stock, with X-Seawall-Fallback
        self.regular_429 = 0
        self.abuser_429 = 0
        self.abuser_sent = 0
        self.s503 = 0
        self.s504 = 0
        self.failed = 0  # any other status (5xx...), or no answer at all
        self.latencies: list[float] = []
        self.full_latencies: list[float] = []
        self.reasons: Counter[str] = Counter()  # X-Seawall-Fallback of the degraded answers

    @property
    def r429(self) -> int:
        return self.regular_429 + self.abuser_429

    def add(self, status: int, degraded: str | None, latency: float, abuser: bool) -> None:
        """Count one answer (``status`` 0: none came)."""
        self.latencies.append(latency)
        if status == 200 and degraded is None:
            self.ok += 1
            self.full_latencies.append(latency)
        elif status == 200:
            self.degraded += 1
            self.reasons[degraded or ""] += 1
        elif status == 429 and abuser:
            self.abuser_429 += 1
        elif status == 429:
            self.regular_429 += 1
        elif status == 503:
            self.s503 += 1
        elif status == 504:
            self.s504 += 1
        else:
            self.failed += 1

    def merge(self, other: Tally) -> None:
        """Add ``other``'s counts to this one's."""
        for name in ("sent", "ok", "degraded", "regular_429", "abuser_429", "abuser_sent", "s503", "s504"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed += other.failed
        self.latencies.extend(other.latencies)
        self.full_latencies.extend(other.full_latencies)
        self.reasons.update(other.reasons)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) of ``values`` by the nearest-rank method, ``None`` if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Figures:
    """What the gateway's metrics say (cumulative at one moment, or the change over a phase)."""

    retries: float = 0.0
    ejections: float = 0.0
    transitions: float = 0.0
    breaker: str = "closed"
    #: ``seawall_http_server_rejected_total`` of the route, by check.
    rejected: dict[str, float] = field(default_factory=dict)

    def minus(self, before: Figures) -> Figures:
        checks = set(self.rejected) | set(before.rejected)
        return Figures(
            retries=self.retries - before.retries,
            ejections=self.ejections - before.ejections,
            transitions=self.transitions - before.transitions,
            breaker=self.breaker,
            rejected={c: self.rejected.get(c, 0.0) - before.rejected.get(c, 0.0) for c in checks},
        )

    def refused(self, check: str) -> int:
        return round(self.rejected.get(check, 0.0))

    @classmethod
    def read(cls, registry: CollectorRegistry) -> Figures:
        """The figures of a service's Prometheus registry (``seawall_http_client_*{dependency=
        "inventory"}`` and the route's ``seawall_http_server_rejected_total``)."""
        found: dict[str, float] = {}
        breaker = "closed"
        rejected: dict[str, float] = {}
        for family in registry.collect():
            for sample in family.samples:
                labels = sample.labels
                if sample.name == "seawall_http_server_rejected_total" and labels.get("route") == ROUTE:
                    rejected[labels["check"]] = rejected.get(labels["check"], 0.0) + sample.value
                elif labels.get("dependency") != "inventory":
                    continue
                elif sample.name == "seawall_http_client_breaker_state":
                    if sample.value == 1:
                        breaker = labels["state"]
                else:
                    found[sample.name] = sample.value
        return cls(
            retries=found.get("seawall_http_client_retries_total", 0.0),
            ejections=found.get("seawall_http_client_ejections_total", 0.0),
            transitions=found.get("seawall_http_client_breaker_transitions_total", 0.0),
            breaker=breaker,
            rejected=rejected,
        )


@dataclass(slots=True)
class PhaseResult:
    """One phase of a run: what users got, what the metrics say, the breaker's transitions."""

    phase: Phase
    start: float
    end: float
    tally: Tally = field(default_factory=Tally)
    figures: Figures = field(default_factory=Figures)
    #: ``(seconds into the phase, new state)`` of each transition of the inventory breaker.
    breaker: list[tuple[float, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DemoResult:
    """A finished run."""

    phases: tuple[PhaseResult, ...]
    #: The status and ``reason`` of the request sent into a call loop.
    loop: tuple[int, str | None] | None
    cpu_seconds: float
    seconds: float

    def phase(self, key: str) -> PhaseResult:
        return next(p for p in self.phases if p.phase.key == key)

    def total(self) -> Tally:
        total = Tally()
        for p in self.phases:
            total.merge(p.tally)
        return total


# -- the scenario ---------------------------------------------------------------------------------


@final
class _Run:
    """One run of the scenario against running services."""

    def __init__(
        self, duration: float, console: Console, topology: Topology, base_url: str, logs: LogEcho
    ) -> None:
        self.console = console
        self.topology = topology
        self.base_url = base_url
        self.logs = logs
        self.clock: Clock = MONOTONIC
        span = duration / len(PHASES)
        self.results = tuple(PhaseResult(p, i * span, (i + 1) * span) for i, p in enumerate(PHASES))
        self.second = Tally()  # answers of the current second
        self.t0 = 0.0
        self.in_flight: set[asyncio.Task[None]] = set()

    async def run(self) -> DemoResult:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        cpu = time.process_time()
        async with httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=5.0) as client:
            # Open the connections the first second would otherwise open (not counted).
            await asyncio.gather(*(client.get(f"/products/{i % len(PRODUCTS) + 1}") for i in range(16)))
            self.t0 = self.logs.t0 = self.clock.now()
            self.console.print(_COLUMNS, style="dim")
            generators = [
                asyncio.create_task(self._generate(client, random.Random(SEED), abuser=False)),
                asyncio.create_task(self._generate(client, random.Random(SEED + 1), abuser=True)),
            ]
            try:
                await self._direct()
                await asyncio.gather(*generators)
                while self.in_flight:
                    await asyncio.wait(self.in_flight)
                loop = await self._loop(client)
            finally:  # interrupted: stop sending before the client closes
                pending = [*generators, *self.in_flight]
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        seconds = self.clock.now() - self.t0
        for at, state in self.logs.transitions:
            for r in self.results:
                if r.start <= at - self.t0 < r.end:
                    r.breaker.append((at - self.t0 - r.start, state))
        return DemoResult(self.results, loop, time.process_time() - cpu, seconds)

    async def _direct(self) -> None:
        """Inject each phase's fault, print a line per second, read the metrics at each boundary."""
        registry = self.topology.gateway.registry
        before = Figures.read(registry)
        tick = 1
        for index, result in enumerate(self.results):
            self.topology.fault(result.phase.key, on=True)
            title = f"[bold]{index + 1}/{len(PHASES)}[/] {escape(result.phase.title)}"
            self.console.rule(title, style="cyan", align="left")
            while tick <= result.end + 1e-6:
                await self.clock.sleep(self.t0 + tick - self.clock.now())
                self._line(tick, Figures.read(registry).breaker)
                tick += 1
            await self.clock.sleep(self.t0 + result.end - self.clock.now())
            self.topology.fault(result.phase.key, on=False)
            after = Figures.read(registry)
            result.figures = after.minus(before)
            before = after

    async def _generate(self, client: httpx.AsyncClient, rng: random.Random, *, abuser: bool) -> None:
        """Open-loop Poisson arrivals at each phase's rate, however long the answers take."""
        at = 0.0
        for result in self.results:
            phase = result.phase
            rate = phase.abuse if abuser else phase.rate
            at = max(at, result.start)
            while rate > 0:
                at += rng.expovariate(rate)
                if at >= result.end:
                    break
                await self.clock.sleep(self.t0 + at - self.clock.now())
                user = ABUSER if abuser else f"user{rng.randrange(phase.users):02d}"
                product = rng.choice(tuple(PRODUCTS))
                task = asyncio.create_task(self._request(client, result.tally, user, product, abuser))
                self.in_flight.add(task)
                task.add_done_callback(self.in_flight.discard)

    async def _request(
        self, client: httpx.AsyncClient, tally: Tally, user: str, product: int, abuser: bool
    ) -> None:
        tally.sent += 1
        if abuser:
            tally.abuser_sent += 1
        start = self.clock.now()
        degraded: str | None = None
        try:
            response = await client.get(f"/products/{product}", headers={"x-user": user})
        except httpx.HTTPError:
            status = 0
        else:
            status = response.status_code
            if status == 200:
                degraded = response.headers.get(FALLBACK_HEADER)
                if degraded is None and response.json().get("stock") is None:
                    degraded = "?"  # stock missing without the header: counted, not hidden
        latency = self.clock.now() - start
        tally.add(status, degraded, latency, abuser)
        self.second.sent += 1  # the per-second lines count answers
        self.second.add(status, degraded, latency, abuser)

    @staticmethod
    async def _loop(client: httpx.AsyncClient) -> tuple[int, str | None] | None:
        """One request into a call loop: gateway -> catalog -> gateway."""
        try:
            response = await client.get("/products/1/related")
            reason = response.json().get("reason")
        except (httpx.HTTPError, ValueError):
            return None
        return response.status_code, reason if isinstance(reason, str) else None

    def _line(self, tick: int, breaker: str) -> None:
        s, self.second = self.second, Tally()
        line = Text(f"{tick:5d}s {s.sent:9d} ")
        line.append(f"{s.ok:5d} ", style="green" if s.ok else "dim")
        for value, width, style in (
            (s.degraded, 9, "yellow"),
            (s.r429, 5, "magenta"),
            (s.s503, 5, "yellow"),
            (s.s504, 5, "red"),
            (s.failed, 6, "red"),
        ):
            line.append(f"{value:{width}d} ", style=style if value else "dim")
        line.append(f"{_ms(percentile(s.latencies, 0.99)):>9}  ")
        line.append(breaker, style=_BREAKER_STYLE.get(breaker, ""))
        self.console.print(line)


#: The columns of the per-second lines (the answers that came during that second).
_COLUMNS: Final = "  time  answered    ok  degraded   429   503   504  failed       p99  breaker"
_BREAKER_STYLE: Final = {"closed": "green", "open": "red", "half_open": "yellow"}


# -- the report -----------------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.0095 else f"{seconds * 1000:.1f} ms"


def _n(count: float, noun: str) -> str:
    count = round(count)
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _header(console: Console, s: Settings, ports: Sequence[int], duration: float) -> None:
    gateway, catalog, *inventory = ports
    console.print(
        f"[bold]seawall demo[/]: {duration:g} s in {len(PHASES)} phases; five services in this process "
        f"(granian on {HOST}) and a load generator (seed {SEED})"
    )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row(
        "gateway",
        f":{gateway}  GET {ROUTE} calls catalog and inventory in parallel; {s.route_timeout * 1000:.0f} "
        f"ms deadline, {s.user_rate:g} req/s per user (x-user header), a bulkhead of "
        f"{s.max_concurrent} running + {s.max_queue} waiting",
    )
    grid.add_row("catalog", f":{catalog}")
    grid.add_row(
        "inventory",
        f"{' '.join(f':{p}' for p in inventory)}  {s.db_connections} database connection each, "
        f"~{s.db_latency * 1000:.0f} ms per query; called with p2c balancing, a "
        f"{s.call_timeout * 1000:.0f} ms timeout, 1 retry, outlier ejection, a circuit breaker, "
        "and a fallback (stock: null)",
    )
    console.print(grid)


def _summary(console: Console, result: DemoResult, s: Settings) -> None:
    users = Table(title="What users got (counted by the load generator)", title_justify="left", box=None)
    users.add_column("phase", style="bold")
    for name in ("sent", "ok", "degraded", "429", "503", "504", "failed", "p50", "p99"):
        users.add_column(name, justify="right")
    total = result.total()
    for key, t in [*((r.phase.key, r.tally) for r in result.phases), ("all", total)]:
        counts = (t.sent, t.ok, t.degraded, t.r429, t.s503, t.s504, t.failed)
        users.add_row(
            key,
            *(str(n) for n in counts),
            _ms(percentile(t.latencies, 0.5)),
            _ms(percentile(t.latencies, 0.99)),
            style="bold" if key == "all" else None,
        )
    console.print()
    console.print(users)
    console.print(
        "[dim]ok and degraded are 200s; degraded: no stock, with X-Seawall-Fallback. Requests count in "
        "the phase they were sent in; latency is end to end.[/]"
    )
    did = Table(title="What seawall did (the gateway's /metrics)", title_justify="left", box=None)
    did.add_column("phase", style="bold")
    for name in ("retries", "ejections", "breaker transitions", "rate limited", "bulkhead full"):
        did.add_column(name, justify="right")
    for r in result.phases:
        f = r.figures
        figures = (f.retries, f.ejections, f.transitions, f.refused("rate_limit"), f.refused("bulkhead"))
        did.add_row(r.phase.key, *(f"{n:.0f}" for n in figures))
    console.print()
    console.print(did)
    console.print(
        '[dim]seawall_http_client_*_total{dependency="inventory"} and '
        "seawall_http_server_rejected_total{check}, counted when they happened.[/]"
    )
    console.print()
    console.print("[bold]What happened[/]")
    story = Table.grid(padding=(0, 1))
    story.add_column(no_wrap=True, style="bold")
    story.add_column()
    for r in result.phases:
        story.add_row(r.phase.key, _SENTENCES[r.phase.key](r, s))
    if result.loop is not None:
        status, reason = result.loop
        story.add_row(
            "loop",
            f"GET /products/1/related goes gateway -> catalog -> gateway: the gateway saw itself in "
            f"X-Seawall-Call-Chain and answered {status} {reason or ''} after one lap, not at a timeout.",
        )
    console.print(story)
    console.print()
    console.print(
        f"{total.sent} requests: {total.ok} answered in full, {total.degraded} degraded, "
        f"{total.r429} rate limited ({total.abuser_429} of them {ABUSER}'s), {total.s503} turned away "
        f"(503), {total.s504 + total.failed} failed; the slowest took "
        f"{_ms(max(total.latencies, default=0.0))}."
    )
    cpu = result.cpu_seconds / result.seconds * 100 if result.seconds > 0 else 0.0
    console.print(
        f"[dim]This process (five services and the load generator) used {cpu:.0f}% of one CPU. "
        "docs/demo.md explains the scenario and every figure.[/]"
    )


def _steady(r: PhaseResult, s: Settings) -> str:
    t = r.tally
    return (
        f"{t.ok} of {t.sent} requests answered in full, p99 {_ms(percentile(t.latencies, 0.99))}: "
        "catalog and inventory are called at once (seawall.parallel.gather) within the route's "
        f"{s.route_timeout * 1000:.0f} ms deadline."
    )


def _spike(r: PhaseResult, s: Settings) -> str:
    t, f = r.tally, r.figures
    others = f"{t.regular_429} of everyone else's" if t.regular_429 else "none of everyone else's"
    text = (
        f"{t.sent - t.abuser_sent} requests from {r.phase.users} users and {t.abuser_sent} from "
        f"{ABUSER}. The per-user rate limit ({s.user_rate:g}/s) answered 429 to {t.abuser_429} of "
        f"{ABUSER}'s and {others}. "
    )
    p99 = _ms(percentile(t.full_latencies, 0.99))
    shed = f.refused("bulkhead")
    if not shed:
        return text + f"The services kept up: nobody was turned away, full answers p99 {p99}."
    return text + (
        f"The inventory databases could not keep up with the rest: the gateway's bulkhead turned "
        f"{_n(shed, 'request')} away (503 + Retry-After, within {s.max_wait * 1000:.0f} ms) instead "
        f"of letting a queue grow, and the {t.ok} full answers kept a p99 of {p99}."
    )


def _failing(r: PhaseResult, s: Settings) -> str:
    t, f = r.tally, r.figures
    errors = t.s503 + t.s504 + t.failed
    seen = (
        f"so users saw no error: {t.ok} of {t.sent} answered in full"
        if not errors and not t.degraded
        else f"and users got {t.ok} full answers, {t.degraded} degraded and {_n(errors, 'error')}"
    )
    return (
        f"inventory #1 answered 500 to every call it got. The client retried {_n(f.retries, 'call')} "
        f"on another instance and outlier detection ejected #1 {_n(f.ejections, 'time')}, {seen}."
    )


def _outage(r: PhaseResult, s: Settings) -> str:
    t = r.tally
    opened = next((at for at, state in r.breaker if state == "open"), None)
    if opened is None:
        return f"inventory hung, and the breaker did not open: {t.degraded} degraded answers."
    reasons = ", ".join(f"{n} {reason}" for reason, n in t.reasons.most_common())
    text = (
        f"every call to inventory hung until its {s.call_timeout * 1000:.0f} ms timeout. The breaker "
        f"opened {opened:.1f} s in; from then on the fallback answered at once instead of waiting "
        f"for a hung call (half-open probes aside): {_n(t.degraded, 'degraded answer')} "
        f"({reasons}), p50 {_ms(percentile(t.latencies, 0.5))}."
    )
    if t.s503:
        text += f" The bulkhead turned {t.s503} away while calls still hung."
    if t.s504 + t.failed:
        text += f" {_n(t.s504 + t.failed, 'request')} failed."
    return text


def _recovery(r: PhaseResult, s: Settings) -> str:
    t = r.tally
    closed = next((at for at, state in r.breaker if state == "closed"), None)
    if closed is None:
        when = "was closed already"
    elif closed < 0.05:
        when = "closed as soon as inventory came back"
    else:
        when = f"closed {closed:.1f} s after inventory came back"
    before = f" ({_n(t.degraded, 'degraded answer')} until then)" if t.degraded else ""
    return (
        f"the half-open probes succeeded and the breaker {when}{before}; {t.ok} of {t.sent} answered "
        f"in full, p99 {_ms(percentile(t.latencies, 0.99))}."
    )


_SENTENCES: Final = {
    "steady": _steady,
    "spike": _spike,
    "failing": _failing,
    "outage": _outage,
    "recovery": _recovery,
}


def _settings(duration: float) -> Settings:
    span = duration / len(PHASES)
    # The breaker's open wait and the ejection time scale with the phases, so that a short run
    # still shows the breaker probing and an ejected instance coming back within its phase.
    return Settings(breaker_wait=min(2.0, max(0.2, span / 4)), ejection_time=min(5.0, max(0.25, span / 4)))


async def _main(duration: float, console: Console, ports: Sequence[int]) -> DemoResult:
    settings = _settings(duration)
    topology = build(settings, clock=MONOTONIC, rng=random.Random(SEED), ports=ports)
    _header(console, settings, ports, duration)
    names = ["gateway", "catalog", *(f"inventory #{i + 1}" for i in range(len(ports) - 2))]
    servers = Servers()
    with echo_logs(console, MONOTONIC) as logs:
        try:
            await servers.start(list(zip(names, topology.services, ports, strict=True)))
            result = await _Run(duration, console, topology, f"http://{HOST}:{ports[0]}", logs).run()
        finally:
            logs.muted = True
            await servers.stop()
    _summary(console, result, settings)
    return result


def run_demo(
    duration: float = DEFAULT_DURATION, *, console: Console | None = None, ports: Sequence[int] | None = None
) -> DemoResult:
    """Run the demo for ``duration`` seconds, printing its progress and summary on ``console``.

    Args:
        duration: seconds, from :data:`MIN_DURATION` to :data:`MAX_DURATION`; the five phases
            share them equally.
        console: where to print (default: standard output).
        ports: the gateway's, the catalog's and three inventory instances' loopback ports
            (default: free ones).

    Raises:
        ValueError: ``duration`` or ``ports`` is out of range.
        DemoError: a port could not be bound, or a service did not start.
    """
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise ValueError(f"duration must be between {MIN_DURATION:g} and {MAX_DURATION:g} seconds")
    if ports is not None and len(ports) != 5:
        raise ValueError("ports must be 5: gateway, catalog and three inventory instances")
    try:
        chosen = list(ports) if ports is not None else free_ports(5)
    except OSError as exc:
        raise DemoError(f"cannot find free ports on {HOST}: {exc}") from exc
    return asyncio.run(_main(duration, console or Console(highlight=False), chosen))
