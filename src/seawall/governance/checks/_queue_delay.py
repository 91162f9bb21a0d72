"""``queue_delay``: queue-delay admission (CoDel), 503 before the handler runs when the event loop's
queue has stopped draining.

One :class:`~seawall.load.CoDel` per configuration is shared by every route of the service that
uses it: the delay it measures is the event loop's, a property of the process, and the minimum
delay of an interval must come from every request for "the queue never emptied" to mean anything.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Generator
from typing import Final, final

import msgspec

from seawall.errors import Overloaded
from seawall.governance._call import Call
from seawall.governance._check import CompileContext, Exit, FieldError, register_check
from seawall.governance._policy import Policy, Section, define_section, validate_struct
from seawall.governance._registry import ResourceInfo
from seawall.governance.checks._priority import PRIORITY, ranker
from seawall.governance.checks._types import PositiveSeconds
from seawall.load import CoDel

__all__ = [
    "LIFO_HOLD_INTERVALS",
    "LIFO_SETTLE_TURNS",
    "LIFO_SPELL_TARGETS",
    "QUEUE_DELAY",
    "LoopQueue",
    "QueueDelayCheck",
    "QueueDelayPolicy",
    "codel_for",
    "loop_queue_for",
]

#: ``Retry-After`` of a queue-delay rejection: the queue drains in milliseconds, but a client
#: that retries at once only adds to it.
RETRY_AFTER: Final = 1.0


class QueueDelayPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Queue-delay admission: reject, before the handler runs, a request that waited too long for
    the event loop, or that newer requests wait behind during an overload (Facebook's "Fail at
    Scale": folly's CoDel, the interval bound and adaptive LIFO; see :class:`QueueDelayCheck`).

    ``interval`` decides how fast a standing queue is recognised (one to two intervals after its
    onset) and bounds any wait outside an overload, ``target`` how long a request may wait for
    the loop (``2 * target`` while CoDel is overloaded; a wait over ``target`` with newer
    requests behind it turns adaptive LIFO on). folly's defaults (5 ms, 100 ms) suit thread
    pools; on one event loop an overload queues requests behind each other's CPU work, so the
    default interval here is 15 ms. For CPU-bound routes set ``target`` near the handler's CPU
    time and ``interval`` two to three targets. Measured for 2 ms handlers at 3x capacity with
    2/4 ms (``bench/overload.py``): admitted p99 1.2-2x the unloaded p99 from the first second on
    (CoDel alone, FIFO: 5-6x in the first second; shedding alone: 25x and more). Bursts below
    capacity that queue over ``target`` are refused too: at half capacity with Poisson arrivals
    (the bench's "below capacity" phase) 1.6-2.5 % of the requests (shedding alone: none);
    docs/overload.md has the table.
    """

    target: PositiveSeconds = 0.005
    interval: PositiveSeconds = 0.015

    def __post_init__(self) -> None:
        validate_struct(self)
        if self.interval <= self.target:  # folly's setOptions refuses it too
            raise ValueError("interval must be > target")


#: Queue-delay admission on the route.
QUEUE_DELAY: Final[Section[QueueDelayPolicy | None]] = define_section(
    "queue_delay",
    QueueDelayPolicy | None,
    None,
    "queue-delay admission (CoDel; 503 when the event loop's queue stops draining)",
)


#: While adaptive LIFO is on, it stays on for this many CoDel intervals after it last shed a
#: request (and after a queue was last seen building): long enough to outlast the gaps between
#: batches of arrivals at 3x capacity, short enough that a burst below capacity ends it soon.
LIFO_HOLD_INTERVALS: Final = 4
#: While adaptive LIFO is on, the newest waiter lets the loop turn this many more times before its
#: handler starts, so that requests the server has read meanwhile (it hands them to the loop
#: between turns) enter and are seen; a newer one entering sheds it. bench/overload.py at 3x: the
#: admitted p99 was 1.6-2.0x the unloaded p99 with none, 1.25-1.4x with two.
LIFO_SETTLE_TURNS: Final = 2
#: Adaptive LIFO sheds for at most this many targets without admitting anything: clients that send
#: a new request as soon as they get a 503 keep a newer request waiting behind every resumed one,
#: and LIFO would otherwise shed them all (examples/overload.py on uvicorn under wrk -c8: 5
#: requests/s admitted of ~480 without this; 326/s with half a target, 390/s with a quarter).
#: After a spell this long the next request to resume runs, whatever waits behind it.
LIFO_SPELL_TARGETS: Final = 0.25
#: Weight of the newest admission in each traffic class's share of recent admissions (an
#: exponential average over about 1 / weight admissions).
SHARE_WEIGHT: Final = 1 / 32


@final
class LoopQueue:
    """What every request waiting in a :class:`QueueDelayCheck` of one gate shares: how many
    are waiting now (in all, and per traffic class), and until when adaptive LIFO is on (clock
    seconds)."""

    __slots__ = (
        "classed",
        "denied",
        "lifo_shed",
        "lifo_until",
        "served",
        "shares",
        "spell",
        "starved_for",
        "waiting",
    )

    def __init__(self, starved_for: float = math.inf) -> None:
        #: How long after LIFO shed one of a class's requests the class counts as denied.
        self.starved_for = starved_for
        self.waiting = 0
        #: Waiting requests per traffic class rank (0 first), of routes with ``priority``.
        self.classed: list[int] = []
        #: Per class: its guaranteed share of admissions, its share of recent admissions, and when
        #: LIFO last shed one of its requests.
        self.shares: list[float] = []
        self.served: list[float] = []
        self.denied: list[float] = []
        self.lifo_until = -math.inf
        #: Requests shed because newer ones were waiting, since creation.
        self.lifo_shed = 0
        #: When LIFO began shedding without anything admitted since (inf: it has not).
        self.spell = math.inf

    def ensure_classes(self, shares: list[float]) -> None:
        """Make room for traffic classes with these guaranteed shares (by rank); routes sharing a
        gate should give the same classes (the first route's shares are kept)."""
        more = len(shares) - len(self.classed)
        if more > 0:
            self.shares.extend(shares[len(self.classed) :])
            self.classed.extend([0] * more)
            self.served.extend(shares[len(self.served) :])  # as if each had had its share so far
            self.denied.extend([-math.inf] * more)

    def starved(self, rank: int, now: float) -> bool:
        """Whether class ``rank`` is kept under its guaranteed share: it had less than its share of
        recent admissions and LIFO shed one of its requests within the last hold."""
        return self.served[rank] < self.shares[rank] and now - self.denied[rank] < self.starved_for

    def ahead(self, rank: int, now: float) -> int:
        """How many waiting requests one of ``rank`` (``-1``: unclassed) yields to: every one for
        an unclassed request; for a classed one, those of classes that come first: starved
        classes before the others, then by rank (Netflix partitioned-limiter semantics: a class
        under its guaranteed share is admitted first, the others by priority)."""
        if rank < 0:
            return self.waiting
        classed = self.classed
        mine = (not self.starved(rank, now), rank)
        return sum(n for k, n in enumerate(classed) if n and (not self.starved(k, now), k) <= mine)

    def served_one(self, rank: int) -> None:
        """Count an admission of class ``rank`` in the classes' recent shares."""
        served = self.served
        for k in range(len(served)):
            served[k] *= 1 - SHARE_WEIGHT
        served[rank] += SHARE_WEIGHT

    async def wait_turn(self, rank: int) -> None:
        """Let the loop turn once, counted as waiting (in ``rank``'s class if ``rank >= 0``)."""
        self.waiting += 1
        if rank >= 0:
            self.classed[rank] += 1
        try:
            await _yield()
        finally:
            self.waiting -= 1
            if rank >= 0:
                self.classed[rank] -= 1


@final
class QueueDelayCheck:
    """503 ``OVERLOADED`` when the request waited too long for the event loop, or when, during an
    overload, newer requests wait behind it (adaptive LIFO).

    On an event loop the queue in front of a handler is the loop's ready queue (and the server's
    socket buffers before it): a request counted as "in flight" has usually not started yet, so
    the wait must be measured, not inferred from a count. The check reads the clock at admission,
    yields to the loop once, and reads it again when the loop comes back to it: every callback
    that was ready before it (other requests' handlers, other arrivals) has run meanwhile, so the
    difference is the time this request waited for the loop. The decision is taken right before
    the handler would start, so a rejected request costs its admission and its 503, never its
    handler. Three rules, from Facebook's "Fail at Scale" (ACM Queue, 2015):

    1. CoDel (:class:`~seawall.load.CoDel`, folly's semantics): while the smallest delay of the
       last interval exceeded ``target`` (a standing queue), a delay over ``2 * target`` is shed.
    2. Outside an overload the wait is bounded by ``interval``: "if the queue has been empty in
       the last N ms, the time spent in the queue is limited to N ms".
    3. Adaptive LIFO: "during periods of high queuing, serve the newest requests first". The
       requests that arrive while a handler holds the loop enter together when it ends, each
       yields, and they resume oldest first; a request that resumes while newer ones still wait
       behind it is shed while LIFO is on, so the newest of each batch runs (the others' clients
       waited longest, and a handler started for them would make every newer one wait too). LIFO
       turns on when CoDel is overloaded, or when a request waited over ``target`` behind
       other work while newer ones wait behind it (a queue building up: this sees the onset of
       an overload within one batch, before CoDel's interval has passed), and stays on for
       :data:`LIFO_HOLD_INTERVALS` intervals after the last request it shed. With ``priority``
       on the route, a request yields only to newer ones of its class or a higher one (the
       classes' order in ``shares``), so under overload the higher classes run first and the
       lower ones take what is left, except that a class kept under its share of recent
       admissions (:meth:`LoopQueue.starved`) comes first; requests of routes without classes
       yield to every newer one.

    Measured on ``examples/overload.py`` (2 ms handlers) at 3x capacity (bench/overload.py):
    with the three rules the admitted p99 is 1.15-1.9x the unloaded one from the first second on;
    with CoDel alone (FIFO) it was 5-6x in the first second and ~2.5x after.

    It runs after every other check but ``shedding`` (cost 60): the delay it measures is then the
    last wait before the handler, and a request another check refuses never waits for the loop.

    A turn of the loop costs a request a few microseconds (``bench/hotpath.py``: ~10 % of a
    hello-world route's throughput when every request yields). So a loop that keeps up is
    *sampled*: while the last measured delay was under ``target / 2`` (CoDel acts only on delays
    over ``target``) and LIFO is off, a request measures only if no other one of its route began
    measuring in the last ``target / 2`` seconds; the others go straight to their handler. A
    delay of ``target / 2`` or more, an overloaded gate or LIFO makes every request measure
    again. The work admitted unmeasured within a window is at most the window plus one handler,
    so the delay cannot pass ``target`` unseen; a CPU-bound handler longer than the window never
    lets the next request skip, and a fast one lets about one request per window measure while
    the loop keeps up.
    """

    __slots__ = (
        "_bound",
        "_calm",
        "_hold",
        "_now",
        "_rank",
        "_should_reject",
        "_spell",
        "_unmeasured_until",
        "codel",
        "queue",
    )
    name = "queue_delay"
    cost = 60
    wants_outcome = False  # no exit

    def __init__(
        self,
        codel: CoDel,
        now: Callable[[], float],
        queue: LoopQueue | None = None,
        rank: Callable[[Call], int] | None = None,
    ) -> None:
        self.codel = codel
        self.queue = LoopQueue() if queue is None else queue
        #: The traffic class rank of a call (0 first), or None: the route has no classes.
        self._rank = rank
        # Bound once: the two clock reads and the decision are the whole per-request cost.
        self._now = now
        self._should_reject = codel.should_reject
        self._bound = codel.interval
        self._hold = LIFO_HOLD_INTERVALS * codel.interval
        self._spell = LIFO_SPELL_TARGETS * codel.target
        # A delay under this is a loop that keeps up: then one request per as many seconds
        # measures (see the class docstring).
        self._calm = codel.target / 2
        self._unmeasured_until = -math.inf  # -inf: every request measures

    async def enter_async(self, call: Call) -> Exit | None:
        now = self._now
        admitted = now()
        until = self._unmeasured_until
        if admitted < until:  # another request is measuring, or just measured a prompt loop
            return None
        if until != -math.inf:  # the last measurement was prompt: this one covers the next window
            self._unmeasured_until = admitted + self._calm
        queue = self.queue
        rank = -1 if self._rank is None else self._rank(call)
        await queue.wait_turn(rank)
        resumed = now()
        delay = resumed - admitted
        codel = self.codel
        if self._should_reject(delay, resumed) or delay > self._bound:
            self._unmeasured_until = -math.inf
            raise Overloaded(
                "shed: the request waited too long for the event loop",
                retry_after=RETRY_AFTER,
                check=self.name,
            )
        if queue.waiting:  # newer requests wait behind this one
            lifo = resumed < queue.lifo_until or codel.overloaded
            if lifo and queue.ahead(rank, resumed) and self._may_shed(resumed):
                raise self._lifo_shed(resumed, rank)
            if delay > codel.target:  # it waited behind other work, and more wait behind it
                queue.lifo_until = resumed + self._hold
        if resumed < queue.lifo_until and not queue.ahead(rank, resumed):
            # The newest so far (of its class or a higher one): let arrivals already read enter.
            for _ in range(LIFO_SETTLE_TURNS):
                await queue.wait_turn(rank)
                if queue.ahead(rank, t := now()) and self._may_shed(t):
                    raise self._lifo_shed(t, rank)
        queue.spell = math.inf  # admitted: a spell of shedding ends
        if rank >= 0:
            queue.served_one(rank)
        if delay < self._calm and not codel.overloaded and resumed >= queue.lifo_until:
            self._unmeasured_until = resumed + self._calm
        else:
            self._unmeasured_until = -math.inf
        return None

    def _may_shed(self, now: float) -> bool:
        """Whether LIFO may shed now: not after a spell of :data:`LIFO_SPELL_TARGETS` targets
        without an admission (the spell starts with its first shed)."""
        queue = self.queue
        if queue.spell == math.inf:
            queue.spell = now
            return True
        return now - queue.spell < self._spell

    def _lifo_shed(self, now: float, rank: int) -> Overloaded:
        """Shed a request that newer ones wait behind (LIFO stays on for another hold)."""
        queue = self.queue
        queue.lifo_until = now + self._hold
        queue.lifo_shed += 1
        if rank >= 0:
            queue.denied[rank] = now
        self._unmeasured_until = -math.inf
        return Overloaded(
            "shed: newer requests are waiting (adaptive LIFO)", retry_after=RETRY_AFTER, check=self.name
        )


@types.coroutine
def _yield() -> Generator[None, None, None]:
    """Suspend the calling task for exactly one turn of the loop: ``asyncio.sleep(0)`` without its
    extra coroutine frame and branch (asyncio's ``__sleep0`` is this same bare ``yield``)."""
    yield


def loop_queue_for(q: QueueDelayPolicy, ctx: CompileContext) -> LoopQueue:
    """The service's :class:`LoopQueue` for ``q``'s gate (shared like its CoDel)."""
    hold = LIFO_HOLD_INTERVALS * q.interval
    return ctx.registry.obtain(("codel_queue", q.target, q.interval), lambda: LoopQueue(starved_for=hold))


def codel_for(q: QueueDelayPolicy, ctx: CompileContext) -> CoDel:
    """The service's :class:`~seawall.load.CoDel` for ``q`` (one per target and interval)."""
    if q.interval <= q.target:  # a struct built with msgspec.structs.replace skips __post_init__
        raise FieldError("interval", "interval must be > target")
    clock = ctx.clock
    return ctx.registry.obtain(
        ("codel", q.target, q.interval),
        lambda: CoDel(target=q.target, interval=q.interval, clock=clock),
        info=ResourceInfo("codel", "", "", f"queue_delay:{q.target:g}/{q.interval:g}"),
    )


def _factory(policy: Policy, ctx: CompileContext) -> QueueDelayCheck | None:
    q = policy[QUEUE_DELAY]
    if q is None:
        return None
    queue = loop_queue_for(q, ctx)
    p = policy[PRIORITY]
    rank: Callable[[Call], int] | None = None
    if p is not None:
        queue.ensure_classes(list(p.shares.values()))
        rank = ranker(p, ctx)
    return QueueDelayCheck(codel_for(q, ctx), ctx.clock.now, queue, rank)


register_check(QUEUE_DELAY.name, _factory)
