"""Queue-delay admission: folly's CoDel for request queues.

Semantics follow folly ``folly/executors/Codel.h`` / ``Codel.cpp`` (the rule of Facebook's "Fail
at Scale", ACM Queue 2015): track the smallest queueing delay seen in each interval; if that
minimum exceeded the target, the queue never emptied during the interval and the next interval
is *overloaded*; while overloaded, a request whose own delay exceeds twice the target is
sloughed off at dequeue, before any work is done for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Protocol, final, runtime_checkable

from seawall._clock import MONOTONIC, Clock

__all__ = ["CoDel", "CoDelStatistics", "NoopCoDel", "QueueDelayGate"]

#: folly's ``FLAGS_codel_target_delay`` (5 ms) and ``FLAGS_codel_interval`` (100 ms).
DEFAULT_TARGET: Final = 0.005
DEFAULT_INTERVAL: Final = 0.1


@dataclass(frozen=True, slots=True)
class CoDelStatistics:
    """A snapshot of a :class:`CoDel`."""

    #: The delay, in seconds, that the minimum of an interval must exceed to mean overload.
    target: float
    #: Seconds per interval.
    interval: float
    #: Whether the current interval is overloaded (requests over ``2 * target`` are rejected).
    overloaded: bool
    #: The smallest delay seen so far in the current interval, in seconds.
    min_delay: float
    #: folly's ``getLoad()``: ``min(100, 100 * min_delay / (2 * target))``, 0 (no delay) to 100.
    load: int
    #: Calls to ``should_reject`` since creation.
    checked: int
    #: Calls to ``should_reject`` that answered True since creation.
    rejected: int


@runtime_checkable
class QueueDelayGate(Protocol):
    """Decides, per request at dequeue, whether a request that waited ``delay`` seconds is shed.

    :class:`CoDel` and :class:`NoopCoDel` satisfy it. Example::

        if gate.should_reject(now - admitted_at, now):
            raise Overloaded(check="queue_delay")
    """

    @property
    def overloaded(self) -> bool:
        """Whether the queue is in overload (a hint to serve waiters newest-first)."""
        ...

    def should_reject(self, delay: float, now: float | None = None) -> bool:
        """Whether a request that waited ``delay`` seconds should be rejected now."""
        ...

    def statistics(self) -> CoDelStatistics:
        """A frozen snapshot of the gate's state."""
        ...


@final
class CoDel:
    """Reject requests that waited too long in a queue that has stopped draining.

    Call :meth:`should_reject` once per request, at dequeue, with how long it waited (on an event
    loop: from admission to the moment its handler is about to start). It answers True only when

    1. the *previous* interval was overloaded: the smallest delay seen during it exceeded
       ``target`` (so the queue never emptied for a whole interval, a standing queue rather
       than a burst), and
    2. this request's delay exceeds the slough timeout ``2 * target``.

    Each interval starts at the first call after the previous one ended (intervals are
    measured from calls, not from a timer: an idle service has no intervals), and that first call
    is never rejected: folly demands more than one request per interval before dropping.

    Deliberately not CoDel-for-packets (drops at ``interval / sqrt(n)``): folly sloughs every
    over-timeout request instead, which Facebook found works better for services. Use it where
    the wait can be measured; it needs no knowledge of capacity and reacts per request.
    :attr:`overloaded` doubles as the switch for adaptive LIFO (serve the newest waiter first
    while overloaded), the other half of "Fail at Scale".

    Differences from folly, on purpose: time is float seconds from the injected clock; no
    atomics (one instance per event loop, like every seawall primitive).

    Args:
        target: seconds of queueing delay that count as a standing queue (folly: 5 ms).
        interval: seconds per observation interval (folly: 100 ms); must exceed ``target``.
        clock: the time source.

    Example::

        codel = CoDel()
        delay = clock.now() - request.admitted_at
        if codel.should_reject(delay):
            raise Overloaded(check="queue_delay")
    """

    __slots__ = (
        "_checked",
        "_deadline",
        "_interval",
        "_min_delay",
        "_now",
        "_overloaded",
        "_rejected",
        "_reset",
        "_slough",
        "_target",
    )

    def __init__(
        self,
        *,
        target: float = DEFAULT_TARGET,
        interval: float = DEFAULT_INTERVAL,
        clock: Clock = MONOTONIC,
    ) -> None:
        if not target > 0 or math.isinf(target):
            raise ValueError("target must be > 0 and finite")
        if not interval > 0 or math.isinf(interval):
            raise ValueError("interval must be > 0 and finite")
        if interval <= target:  # folly's setOptions: "target delay must be strictly smaller"
            raise ValueError("interval must be > target")
        self._target = float(target)
        self._interval = float(interval)
        self._slough = 2.0 * self._target  # folly's getSloughTimeout
        self._now = clock.now
        # folly starts the first interval's deadline at construction and in the "reset" state:
        # the first call only seeds the minimum, the second one closes that first interval.
        self._deadline = clock.now()
        self._reset = True
        self._min_delay = 0.0
        self._overloaded = False
        self._checked = 0
        self._rejected = 0

    @property
    def target(self) -> float:
        """Seconds of delay the minimum of an interval must exceed to mean overload."""
        return self._target

    @property
    def interval(self) -> float:
        """Seconds per interval."""
        return self._interval

    @property
    def slough_timeout(self) -> float:
        """``2 * target``: while overloaded, requests that waited longer are rejected."""
        return self._slough

    @property
    def overloaded(self) -> bool:
        """Whether the current interval is overloaded; a hint to serve waiters newest-first."""
        return self._overloaded

    @property
    def min_delay(self) -> float:
        """The smallest delay seen so far in the current interval, in seconds."""
        return self._min_delay

    @property
    def load(self) -> int:
        """folly's ``getLoad()``: ``min(100, 100 * min_delay / (2 * target))`` as an int."""
        return min(100, int(100.0 * self._min_delay / self._slough))

    def should_reject(self, delay: float, now: float | None = None) -> bool:
        """Whether a request that waited ``delay`` seconds should be rejected now.

        Pass ``now`` when the caller has just read the clock to compute ``delay``: it saves a
        second read. Call it once per request, promptly at dequeue.
        """
        self._checked += 1
        if now is None:
            now = self._now()
        if now > self._deadline and not self._reset:
            # The interval is over: its minimum decides the mode of the next one.
            self._reset = True
            self._deadline = now + self._interval
            self._overloaded = self._min_delay > self._target
        if self._reset:
            self._reset = False
            self._min_delay = delay
            return False
        if delay < self._min_delay:
            self._min_delay = delay
        if self._overloaded and delay > self._slough:
            self._rejected += 1
            return True
        return False

    def statistics(self) -> CoDelStatistics:
        """A frozen snapshot; reading it changes nothing."""
        return CoDelStatistics(
            target=self._target,
            interval=self._interval,
            overloaded=self._overloaded,
            min_delay=self._min_delay,
            load=self.load,
            checked=self._checked,
            rejected=self._rejected,
        )

    def __repr__(self) -> str:
        return f"CoDel(target={self._target!r}, interval={self._interval!r}, overloaded={self._overloaded!r})"


_NOOP_STATS: Final = CoDelStatistics(
    target=0.0, interval=0.0, overloaded=False, min_delay=0.0, load=0, checked=0, rejected=0
)


@final
class NoopCoDel:
    """A :class:`CoDel` that never rejects; use it where queue-delay admission is off.

    Its statistics are all zeros.
    """

    __slots__ = ()

    @property
    def overloaded(self) -> bool:
        """Never."""
        return False

    @property
    def load(self) -> int:
        """Always 0."""
        return 0

    def should_reject(self, delay: float, now: float | None = None) -> bool:
        """Always False."""
        return False

    def statistics(self) -> CoDelStatistics:
        return _NOOP_STATS

    def __repr__(self) -> str:
        return "NoopCoDel()"
