"""``shedding``: adaptive (BBR-style) load shedding, 503 when the process is overloaded.

One shedder per CPU threshold is shared by every route of the service, so all in-flight work and
latency feed one picture of the process (go-zero's rest engine shares one the same way). On a
route that also has ``queue_delay``, the event loop's queue arms the shedder as well as the CPU
(:class:`QueueAwareCpu`), so it holds in-flight work to what the process can carry within
milliseconds of an overload's onset instead of after the CPU signal has caught up.

With a ``priority`` section on the route, the shedder's decision is partitioned between the
traffic classes (:class:`ShedPartitions`): a request the shedder would drop is admitted while its
class has fewer requests in flight than its guaranteed share of what the service carries.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from typing import Annotated, Final, final

import msgspec

from seawall.errors import Overloaded
from seawall.governance._call import Call, Outcome
from seawall.governance._check import CompileContext, Exit, register_check
from seawall.governance._policy import Policy, Section, define_section, validate_struct
from seawall.governance._registry import ResourceInfo
from seawall.governance.checks._priority import PRIORITY, Ranker, ranker, shares_key
from seawall.governance.checks._queue_delay import QUEUE_DELAY, codel_for
from seawall.load import (
    AdaptiveShedder,
    CpuProbe,
    ProcessCpuProbe,
    QueueDelayGate,
    Shedder,
    ShedTicket,
)

__all__ = ["SHEDDING", "QueueAwareCpu", "ShedPartitions", "SheddingCheck", "SheddingPolicy"]

#: Full CPU usage in permille (``seawall.load``'s scale).
CPU_FULL: Final = 1000
#: With queue-delay admission on the route, the shedder cools off after this many of its intervals.
COOL_OFF_INTERVALS: Final = 4


class SheddingPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Adaptive (BBR-style) load shedding: drop when CPU usage (permille of what this process may
    use) is over ``cpu_threshold`` and in-flight exceeds maxPass x minRT. ``priority`` routes use
    go-zero's higher threshold ``(cpu_threshold + 1000) / 2``.

    With ``queue_delay`` on the same route the shedder also counts the process as overloaded
    while the queue-delay gate does (see :class:`QueueAwareCpu`): recommended for CPU-bound
    routes, whose overload otherwise queues for the tens of milliseconds the CPU signal needs.
    """

    cpu_threshold: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 900
    priority: bool = False

    def __post_init__(self) -> None:
        validate_struct(self)


#: Adaptive load shedding on the route.
SHEDDING: Final[Section[SheddingPolicy | None]] = define_section(
    "shedding", SheddingPolicy | None, None, "adaptive load shedding (503 when overloaded)"
)


@final
class ShedPartitions:
    """Traffic classes sharing one shedder's decision (Netflix partitioned-limiter semantics over
    the shedder's ``max_flight``): each class is guaranteed ``max(1, ceil(max_flight * share))``
    requests in flight; while the shedder admits, any class may use more (it borrows); once the
    shedder drops, a request is still admitted if its class is under its guarantee.

    One per shedder and set of shares, shared by the routes that use both.
    """

    __slots__ = ("in_flight", "shares")

    def __init__(self, shares: Iterable[float]) -> None:
        #: Guaranteed share of each class, by rank (the order of ``PriorityPolicy.shares``).
        self.shares = list(shares)
        #: Requests of each class in flight (admitted by the shedding check, not yet answered).
        self.in_flight = [0] * len(self.shares)

    def guaranteed(self, rank: int, max_flight: float) -> bool:
        """Whether a request of class ``rank`` is still within its class's guarantee."""
        return self.in_flight[rank] < max(1, math.ceil(max_flight * self.shares[rank]))


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

    With ``yields=False`` (a ``queue_delay`` check follows on the route, and yields always) it
    does not yield itself: one turn of the loop serves both, so admitted requests wait one turn,
    not two. The response time then includes that turn; a CPU-bound handler's ``max_flight``
    stays under 2 all the same (bench/overload.py).
    """

    __slots__ = ("cost", "partitions", "priority", "shedder", "yields")
    name = "shedding"

    def __init__(
        self,
        shedder: Shedder,
        priority: bool,
        yields: bool = True,
        partitions: tuple[AdaptiveShedder, ShedPartitions, Ranker] | None = None,
    ) -> None:
        self.shedder = shedder
        #: With traffic classes: the shedder (for its forced admission), the classes' state and
        #: the rank of a call; None without.
        self.partitions = partitions
        self.priority = priority
        self.yields = yields
        # Alone it decides early (cost 30) and yields itself. After a queue_delay check (cost 60)
        # it decides once the loop turn is over: the turn's adaptive LIFO has then chosen which
        # of the waiting requests runs, and the in-flight count holds work that really started.
        # Deciding before the turn, it admitted the oldest of each batch and shed the newer ones
        # (bench/overload.py: admitted p99 ~2.5x the unloaded one instead of ~2x).
        self.cost = 30 if yields else 61

    async def enter_async(self, call: Call) -> Exit | None:
        ticket = self.shedder.allow(self.priority)
        partitioned = self.partitions
        if partitioned is None:
            if ticket is None:
                raise Overloaded("shed: the service is overloaded", retry_after=1.0, check=self.name)
            report: _Report | _ClassReport = _Report(ticket)
        else:
            adaptive, partitions, ranker_ = partitioned
            rank = ranker_(call)
            if ticket is None:
                if not partitions.guaranteed(rank, adaptive.max_flight()):
                    raise Overloaded("shed: the service is overloaded", retry_after=1.0, check=self.name)
                ticket = adaptive.admit()  # the class is under its guaranteed share
            partitions.in_flight[rank] += 1
            report = _ClassReport(ticket, partitions, rank)
        # The yield only matters while shedding may happen; a queue_delay check after this one
        # yields anyway (one turn of the loop serves both).
        if self.yields and self.shedder.hot(self.priority):
            try:
                await asyncio.sleep(0)
            except BaseException:
                report.abandon()
                raise
            ticket.begin()
        return report


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

    def abandon(self) -> None:
        """The call ended before it ran (cancelled during the check's yield)."""
        self.ticket.reject()


@final
class _ClassReport:
    """A :class:`_Report` that also counts its traffic class out of flight."""

    __slots__ = ("partitions", "rank", "report")

    def __init__(self, ticket: ShedTicket, partitions: ShedPartitions, rank: int) -> None:
        self.report = _Report(ticket)
        self.partitions = partitions
        self.rank = rank

    def __call__(self, outcome: Outcome) -> None:
        self.partitions.in_flight[self.rank] -= 1
        self.report(outcome)

    def abandon(self) -> None:
        self.partitions.in_flight[self.rank] -= 1
        self.report.abandon()


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


@final
class QueueAwareCpu:
    """The CPU signal, at full usage while the event loop's queue stands (a :class:`CpuProbe`).

    On one event loop a queue of requests waiting for the loop *is* the loop's thread at 100 %:
    :class:`~seawall.load.CoDel` sees it within an interval or two of an overload's onset, while
    the CPU signal, smoothed over tens of milliseconds, needs several samples, and on a shared
    machine (other processes taking the core) may never reach the threshold at all.
    """

    __slots__ = ("_codel", "_usage")

    def __init__(self, cpu: CpuProbe, codel: QueueDelayGate) -> None:
        self._usage = cpu.usage
        self._codel = codel

    def usage(self) -> int:
        return CPU_FULL if self._codel.overloaded else self._usage()


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
    cpu: CpuProbe = _probe(ctx)
    key: tuple[object, ...] = ("shedder", s.cpu_threshold)
    check = f"shedding:{s.cpu_threshold}"
    q = policy[QUEUE_DELAY]
    if q is not None:
        # With queue-delay admission on the route, the loop's queue arms the shedder too (see
        # QueueAwareCpu): the shedder then holds in-flight to what the service can carry from
        # the onset of an overload, not from when the CPU signal catches up.
        cpu = QueueAwareCpu(cpu, codel_for(q, ctx))
        key = (*key, "queue_delay", q.target, q.interval)
        check += f"+queue_delay:{q.target:g}/{q.interval:g}"
    # running=1: shedding checks admit from the event loop's only thread, so no admitted request
    # is executing at that instant (see AdaptiveShedder; bench/overload.py: the admitted p99 fell
    # from ~5x to ~2.6x the unloaded p99 at the same goodput).
    # go-zero keeps shedding for 1 s after the CPU was last over the threshold: its signal is
    # smoothed and late. The loop's queue is seen at once, so an alarm raised by the gate alone
    # (a burst at a light load) cools off within a few intervals: with 1 s, a 2 ms-handler
    # service at half its capacity (Poisson arrivals) had 6-8 % of its requests refused.
    cool_off = 1.0 if q is None else COOL_OFF_INTERVALS * q.interval
    shedder = ctx.registry.obtain(
        key,
        lambda: AdaptiveShedder(
            cpu=cpu, cpu_threshold=s.cpu_threshold, running=1, cool_off=cool_off, clock=ctx.clock
        ),
        info=ResourceInfo("shedder", "", "", check),
    )
    p = policy[PRIORITY]
    if p is None:
        return SheddingCheck(shedder, s.priority, yields=q is None)
    partitions = ctx.registry.obtain(
        (*key, "partitions", shares_key(p)), lambda: ShedPartitions(p.shares.values())
    )
    return SheddingCheck(
        shedder, s.priority, yields=q is None, partitions=(shedder, partitions, ranker(p, ctx))
    )


register_check(SHEDDING.name, _factory)
