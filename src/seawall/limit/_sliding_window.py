"""Sliding-window counter: at most ``limit`` units in any ``window`` seconds, in fixed buckets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

from seawall._clock import MONOTONIC, Clock

__all__ = ["SlidingWindow", "SlidingWindowStatistics"]


@dataclass(frozen=True, slots=True)
class SlidingWindowStatistics:
    """A snapshot of a :class:`SlidingWindow`."""

    #: Calls to ``try_acquire`` that were admitted.
    admitted: int
    #: Calls to ``try_acquire`` that were refused.
    rejected: int
    #: Units counted in the current window.
    count: int
    #: Most units admitted per window.
    limit: int
    #: Window length in seconds.
    window: float
    #: Number of buckets the window is split into.
    buckets: int


@final
class SlidingWindow:
    """Admit at most ``limit`` units per ``window`` seconds, counted in ``buckets`` time slices.

    Use it for a plain "N requests per second (or minute)" rule, where a token bucket's burst
    refill is not wanted. The window is a fixed ring of ``buckets`` slices of
    ``window / buckets`` seconds each; a slice older than the window is reset lazily, when time
    reaches the slice that reuses its slot. The window therefore slides one slice at a time: any
    ``buckets`` consecutive slices hold at most ``limit`` units. More buckets give a smoother
    window at the cost of memory (never of time: a call does O(1) work amortised).

    Follows Sentinel's ``LeapArray.java`` (ring of ``WindowWrap`` start times and counters,
    stale windows reset on access, ``values()`` skipping deprecated windows) used by
    ``DefaultController.java`` for its QPS check (``passQps + acquire > count`` rejects). Slices
    are identified by their ordinal ``floor(now / slice)`` rather than a millisecond start time;
    because the ring is only ever advanced in order, each slot's ordinal is implied by the newest
    one instead of being stored and compared per slot.

    Args:
        limit: the most units admitted per window (>= 1).
        window: the window length in seconds (> 0).
        buckets: how many slices the window is split into (>= 1).
        clock: the time source; tests pass :class:`seawall.testing.MockClock`.

    Example::

        per_second = SlidingWindow(limit=100, window=1.0)
        if not per_second.try_acquire():
            raise RateLimited(retry_after=per_second.retry_after())
    """

    __slots__ = (
        "_admitted",
        "_buckets",
        "_clock",
        "_counts",
        "_head",
        "_limit",
        "_rejected",
        "_slice",
        "_slot",
        "_total",
        "_window",
    )

    def __init__(self, *, limit: int, window: float, buckets: int = 10, clock: Clock = MONOTONIC) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        if not window > 0 or math.isinf(window):
            raise ValueError("window must be > 0 and finite")
        if buckets < 1:
            raise ValueError("buckets must be >= 1")
        self._limit = int(limit)
        self._window = float(window)
        self._buckets = int(buckets)
        self._slice = self._window / self._buckets
        self._clock = clock
        # The ring: slot i counts the latest slice whose ordinal is ≡ i (mod buckets) and
        # <= _head; _head only moves forward, so every slot's ordinal is implied by it.
        self._head = math.floor(clock.now() / self._slice)
        self._counts = [0] * self._buckets
        self._slot = self._head % self._buckets
        self._total = 0
        self._admitted = 0
        self._rejected = 0

    @property
    def limit(self) -> int:
        """Most units admitted per window."""
        return self._limit

    @property
    def window(self) -> float:
        """Window length in seconds."""
        return self._window

    def _advance(self, head: int) -> None:
        # Reset the slots of every slice that has left the window (at most one full turn).
        buckets = self._buckets
        counts = self._counts
        first = max(self._head + 1, head - buckets + 1)
        for ordinal in range(first, head + 1):
            slot = ordinal % buckets
            self._total -= counts[slot]
            counts[slot] = 0
        self._head = head
        self._slot = head % buckets

    def try_acquire(self, n: int = 1) -> bool:
        """Count ``n`` units if the window then holds at most ``limit``; otherwise count nothing."""
        if n < 1:
            raise ValueError("n must be >= 1")
        head = math.floor(self._clock.now() / self._slice)
        if head > self._head:
            self._advance(head)
        if self._total + n <= self._limit:
            self._total += n
            self._counts[self._slot] += n
            self._admitted += 1
            return True
        self._rejected += 1
        return False

    def _sync(self) -> float:
        # Resetting stale slices early is invisible: the next call would do the same first.
        now = self._clock.now()
        head = math.floor(now / self._slice)
        if head > self._head:
            self._advance(head)
        return now

    def count(self) -> int:
        """Units counted in the current window."""
        self._sync()
        return self._total

    def retry_after(self, n: int = 1) -> float:
        """Seconds until enough old slices expire for ``n`` units to fit; 0.0 if now, ``inf`` if never."""
        if n > self._limit:
            return math.inf
        now = self._sync()
        excess = self._total + n - self._limit
        if excess <= 0:
            return 0.0
        # Oldest slice first: slice k leaves the window when slice k + buckets begins.
        for ordinal in range(self._head - self._buckets + 1, self._head + 1):
            excess -= self._counts[ordinal % self._buckets]
            if excess <= 0:
                return max(0.0, (ordinal + self._buckets) * self._slice - now)
        raise AssertionError("unreachable: n <= limit fits an empty window")  # pragma: no cover

    def statistics(self) -> SlidingWindowStatistics:
        """A frozen snapshot of the counters and the current window's count."""
        self._sync()
        return SlidingWindowStatistics(
            admitted=self._admitted,
            rejected=self._rejected,
            count=self._total,
            limit=self._limit,
            window=self._window,
            buckets=self._buckets,
        )

    def __repr__(self) -> str:
        return f"SlidingWindow(limit={self._limit!r}, window={self._window!r}, buckets={self._buckets!r})"
