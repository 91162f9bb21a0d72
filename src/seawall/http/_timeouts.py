"""Route timeouts without a timer per request: a coarse timer wheel that cancels late tasks.

``asyncio.timeout()`` schedules and cancels one loop timer per request; measured here that costs
~3.6 µs a request (cancelled handles pile up in the loop's heap), more than the rest of the
default chain together (bench/hotpath.py). Instead each request adds itself to the bucket of its
deadline tick (a set; O(1) add and discard) and one repeating timer, running only while some
request is watched, cancels the tasks in buckets whose tick has passed. A deadline fires at most
``resolution`` seconds late.
"""

from __future__ import annotations

import asyncio
from typing import Final, final

from seawall._clock import MONOTONIC, Clock

__all__ = ["TimeoutWheel", "Watch"]

DEFAULT_RESOLUTION: Final = 0.005


@final
class Watch:
    """One request under watch; ``expired`` is set just before its task is cancelled."""

    __slots__ = ("clock", "deadline", "expired", "task", "tick", "timeout")

    def __init__(
        self, task: asyncio.Task[object] | None, tick: int, deadline: float, timeout: float, clock: Clock
    ) -> None:
        self.task = task
        self.tick = tick
        self.deadline = deadline
        self.timeout = timeout
        self.clock = clock
        self.expired = False

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once passed)."""
        return self.deadline - self.clock.now()


@final
class TimeoutWheel:
    """Cancels watched tasks once their deadline passes.

    Args:
        clock: the time source deadlines are measured on.
        resolution: tick length in seconds; deadlines fire up to this late.
    """

    __slots__ = ("_buckets", "_clock", "_handle", "_last", "_resolution")

    def __init__(self, *, clock: Clock = MONOTONIC, resolution: float = DEFAULT_RESOLUTION) -> None:
        if resolution <= 0:
            raise ValueError("resolution must be > 0")
        self._clock = clock
        self._resolution = resolution
        self._buckets: dict[int, set[Watch]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._last = int(clock.now() // resolution)  # every tick up to this one has been processed

    def watch(self, timeout: float) -> Watch:
        """Watch the current task; it is cancelled once ``timeout`` seconds have passed."""
        # Round up: never fire early.
        now = self._clock.now()
        deadline = now + timeout
        tick = -int(-deadline // self._resolution)
        if self._handle is None:
            if not self._buckets:  # idle until now: nothing before the current tick is pending
                self._last = int(now // self._resolution)
            self._schedule()
        if tick <= self._last:
            tick = self._last + 1
        w = Watch(asyncio.current_task(), tick, deadline, timeout, self._clock)
        bucket = self._buckets.get(tick)
        if bucket is None:
            bucket = self._buckets[tick] = set()
        bucket.add(w)
        return w

    def done(self, w: Watch) -> None:
        """Stop watching (the request finished in time, or expired and was handled)."""
        bucket = self._buckets.get(w.tick)
        if bucket is not None:
            # An emptied bucket stays until its tick passes: deleting and re-creating it for
            # every request cost more than the idle ticks it saves (bench/hotpath.py).
            bucket.discard(w)

    def _schedule(self) -> None:
        self._handle = asyncio.get_running_loop().call_later(self._resolution, self.tick)

    def tick(self) -> int:
        """Cancel every watched task whose deadline has passed; returns how many were cancelled."""
        self._handle = None
        now_tick = int(self._clock.now() // self._resolution)
        cancelled = 0
        buckets = self._buckets
        for tick in range(self._last + 1, now_tick + 1):
            for w in buckets.pop(tick, ()):
                w.expired = True
                if w.task is not None:
                    w.task.cancel()
                cancelled += 1
        self._last = max(self._last, now_tick)
        if self._buckets:
            self._schedule()
        return cancelled

    @property
    def watched(self) -> int:
        return sum(len(b) for b in self._buckets.values())
