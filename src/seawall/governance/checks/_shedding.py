"""``shedding``: adaptive (BBR-style) load shedding, 503 when the process is overloaded.

One shedder per CPU threshold is shared by every route of the service, so all in-flight work and
latency feed one picture of the process (go-zero's rest engine shares one the same way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Final, final

import msgspec

from seawall.errors import Overloaded
from seawall.governance._call import Call, Outcome
from seawall.governance._check import CompileContext, Exit, register_check
from seawall.governance._policy import Policy, Section, define_section, validate_struct
from seawall.governance._registry import ResourceInfo
from seawall.load import AdaptiveShedder, CpuProbe, ProcessCpuProbe, Shedder, ShedTicket

__all__ = ["SHEDDING", "SheddingCheck", "SheddingPolicy"]


class SheddingPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Adaptive (BBR-style) load shedding: drop when CPU usage (permille of what this process may
    use) is over ``cpu_threshold`` and in-flight exceeds maxPass x minRT. ``priority`` routes use
    go-zero's higher threshold ``(cpu_threshold + 1000) / 2``."""

    cpu_threshold: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 900
    priority: bool = False

    def __post_init__(self) -> None:
        validate_struct(self)


#: Adaptive load shedding on the route.
SHEDDING: Final[Section[SheddingPolicy | None]] = define_section(
    "shedding", SheddingPolicy | None, None, "adaptive load shedding (503 when overloaded)"
)


@final
class SheddingCheck:
    """503 when the :class:`Shedder` drops the call.

    It is async on purpose. In asyncio a CPU-bound handler runs to completion in its task's first
    step, so requests queued behind it on the event loop would be invisible to an in-flight count
    and the shedder would never see the queue (bench/overload.py: no shedding, congestion
    collapse). Yielding once after admission lets every queued request be admitted or shed before
    admitted work runs, which gives the shedder the view of in-flight work that a
    goroutine-per-request server (go-zero, Kratos) has; the response time is then measured from
    when the work starts (``ticket.begin()``), so loop queueing does not inflate ``min_rt``.
    """

    __slots__ = ("priority", "shedder")
    name = "shedding"
    cost = 30

    def __init__(self, shedder: Shedder, priority: bool) -> None:
        self.shedder = shedder
        self.priority = priority

    async def enter_async(self, call: Call) -> Exit | None:
        ticket = self.shedder.allow(self.priority)
        if ticket is None:
            raise Overloaded("shed: the service is overloaded", retry_after=1.0, check=self.name)
        if self.shedder.hot(self.priority):  # the yield only matters while shedding may happen
            try:
                await asyncio.sleep(0)
            except BaseException:
                ticket.reject()
                raise
            ticket.begin()
        return _Report(ticket)


@final
class _Report:
    __slots__ = ("ticket",)

    def __init__(self, ticket: ShedTicket) -> None:
        self.ticket = ticket

    def __call__(self, outcome: Outcome) -> None:
        # go-zero sheddinghandler: a 5xx is a failure (no pass recorded), anything else passes;
        # a call that never ran to an answer says nothing about capacity either.
        if outcome.status >= 500 or outcome.kind == "cancelled":
            self.ticket.reject()
        else:
            self.ticket.accept()


def _probe(ctx: CompileContext) -> CpuProbe:
    given = ctx.cpu_probe
    if given is not None:
        managed = isinstance(given, ProcessCpuProbe)  # a probe with a sampling thread to run
        start: Callable[[CpuProbe], None] | None = _start_probe if managed else None
        stop: Callable[[CpuProbe], None] | None = _stop_probe if managed else None
        shared: CpuProbe = ctx.registry.obtain(
            ("cpu_probe", id(given)), lambda: given, start=start, close=stop
        )
        return shared

    def build() -> ProcessCpuProbe:
        # Sampled every 50 ms with a faster EWMA than go-zero's (0.95 every 250 ms), rising
        # faster (0.2) than it falls (0.5): with go-zero's a saturated worker took ~11 s to cross
        # 900 permille and the queue built up meanwhile collapsed goodput; with 0.5 both ways the
        # first ~150 ms of an overload still queued up to ~120 ms, with rise 0.2 ~50 ms
        # (bench/overload.py).
        return ProcessCpuProbe(interval=0.05, decay=0.5, rise=0.2, clock=ctx.clock)

    probe: ProcessCpuProbe = ctx.registry.obtain(
        ("cpu_probe",), build, start=ProcessCpuProbe.start, close=ProcessCpuProbe.stop
    )
    return probe


def _start_probe(probe: CpuProbe) -> None:
    assert isinstance(probe, ProcessCpuProbe)
    probe.start()


def _stop_probe(probe: CpuProbe) -> None:
    assert isinstance(probe, ProcessCpuProbe)
    probe.stop()


def _factory(policy: Policy, ctx: CompileContext) -> SheddingCheck | None:
    s = policy[SHEDDING]
    if s is None:
        return None
    cpu = _probe(ctx)
    # running=1: shedding checks admit from the event loop's only thread, so no admitted request
    # is executing at that instant (see AdaptiveShedder; bench/overload.py: the admitted p99 fell
    # from ~5x to ~2.6x the unloaded p99 at the same goodput).
    shedder = ctx.registry.obtain(
        ("shedder", s.cpu_threshold),
        lambda: AdaptiveShedder(cpu=cpu, cpu_threshold=s.cpu_threshold, running=1, clock=ctx.clock),
        info=ResourceInfo("shedder", "", "", f"shedding:{s.cpu_threshold}"),
    )
    return SheddingCheck(shedder, s.priority)


register_check(SHEDDING.name, _factory)
