"""The share of recent calls that timed out, over a rolling window on the clock.

It answers the seed's rule "no retry while more than 20% of recent calls timed out": when a
dependency is slow rather than failing, retries only add to the queue that makes it slow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, final

from seawall._clock import MONOTONIC, Clock

__all__ = ["TimeoutRatio", "TimeoutRatioStatistics"]

#: With fewer calls than this in the window the ratio says nothing (see ``min_calls``).
DEFAULT_MIN_CALLS: Final = 10


def _check(threshold: float, window: float, buckets: int, min_calls: int, *, prefix: str = "") -> None:
    """Validate a timeout window; ``prefix`` names the parameters as :class:`RetryPolicy` fields."""
    if not 0.0 <= threshold <= 1.0:  # also rejects NaN
        raise ValueError(f"{prefix}threshold must be in [0, 1]")
    if not 0.0 < window < math.inf:
        raise ValueError(f"{prefix}window must be > 0 and finite")
    if buckets < 1:
        raise ValueError(f"{prefix}buckets must be >= 1")
    if min_calls < 1:
        raise ValueError(f"{prefix}min_calls must be >= 1")


@final
@dataclass(frozen=True, slots=True)
class TimeoutRatioStatistics:
    """A snapshot of a :class:`TimeoutRatio`."""

    #: Calls recorded in the current window.
    calls: int
    #: Of those, calls that timed out.
    timeouts: int
    #: ``timeouts / calls`` (0.0 with no calls).
    ratio: float
    #: Whether :meth:`TimeoutRatio.exceeded` holds now.
    exceeded: bool
    #: The ratio above which retries stop.
    threshold: float
    #: Calls needed in the window before the ratio can be exceeded.
    min_calls: int
    #: Window length in seconds.
    window: float


@final
class TimeoutRatio:
    """Counts calls and timeouts over the last ``window`` seconds; says when timeouts dominate.

    Record every attempt's outcome with :meth:`record`; :meth:`exceeded` is true while more than
    ``threshold`` of the calls in the window timed out (strictly above: exactly 20% does not
    stop retries) and the window holds at least ``min_calls`` calls. The minimum keeps a quiet
    client from switching retries off on one unlucky call: with the default of 10, it takes three
    timeouts among the last ten calls. Below the minimum the window never objects; the retry
    budget still bounds retries then.

    The window is a ring of ``buckets`` slices of ``window / buckets`` seconds, reset lazily as
    time reaches them (Sentinel's ``LeapArray``, as in :class:`seawall.limit.SlidingWindow`), so
    a call counts for between ``window * (1 - 1/buckets)`` and ``window`` seconds.

    Not thread-safe: one per event loop.

    Args:
        threshold: the timeout share, in [0, 1], above which :meth:`exceeded` is true; 1 turns
            the rule off.
        window: seconds of history (> 0).
        buckets: slices the window is split into (>= 1).
        min_calls: calls needed in the window before it can be exceeded (>= 1).
        clock: the time source.

    Example::

        timeouts = TimeoutRatio()
        timeouts.record(timed_out=True)
        if timeouts.exceeded():
            ...  # do not retry
    """

    __slots__ = (
        "_buckets",
        "_calls",
        "_clock",
        "_head",
        "_min_calls",
        "_slice",
        "_threshold",
        "_timeouts",
        "_total_calls",
        "_total_timeouts",
        "_window",
    )

    def __init__(
        self,
        *,
        threshold: float = 0.2,
        window: float = 10.0,
        buckets: int = 10,
        min_calls: int = DEFAULT_MIN_CALLS,
        clock: Clock = MONOTONIC,
    ) -> None:
        _check(threshold, window, buckets, min_calls)
        self._threshold = float(threshold)
        self._window = float(window)
        self._buckets = int(buckets)
        self._min_calls = int(min_calls)
        self._slice = self._window / self._buckets
        self._clock = clock
        self._head = math.floor(clock.now() / self._slice)
        self._calls = [0] * self._buckets
        self._timeouts = [0] * self._buckets
        self._total_calls = 0
        self._total_timeouts = 0

    def _sync(self) -> int:
        head = math.floor(self._clock.now() / self._slice)
        if head > self._head:
            buckets = self._buckets
            calls, timeouts = self._calls, self._timeouts
            for ordinal in range(max(self._head + 1, head - buckets + 1), head + 1):
                i = ordinal % buckets
                self._total_calls -= calls[i]
                self._total_timeouts -= timeouts[i]
                calls[i] = 0
                timeouts[i] = 0
            self._head = head
        return self._head % self._buckets

    def record(self, *, timed_out: bool) -> None:
        """Count one call, and whether it timed out."""
        i = self._sync()
        self._calls[i] += 1
        self._total_calls += 1
        if timed_out:
            self._timeouts[i] += 1
            self._total_timeouts += 1

    def ratio(self) -> float:
        """The share of the window's calls that timed out (0.0 with no calls)."""
        self._sync()
        calls = self._total_calls
        return self._total_timeouts / calls if calls else 0.0

    def exceeded(self) -> bool:
        """Whether retries should stop: enough calls, and more than ``threshold`` timed out."""
        self._sync()
        calls = self._total_calls
        # Divide rather than multiply: a correctly rounded quotient equals the threshold exactly
        # when the share is exactly at it (63/90 == 0.7, while 0.7 * 90 < 63).
        return calls >= self._min_calls and self._total_timeouts / calls > self._threshold

    @property
    def threshold(self) -> float:
        """The timeout share above which retries stop."""
        return self._threshold

    def statistics(self) -> TimeoutRatioStatistics:
        """A frozen snapshot of the current window."""
        self._sync()
        return TimeoutRatioStatistics(
            calls=self._total_calls,
            timeouts=self._total_timeouts,
            ratio=self.ratio(),
            exceeded=self.exceeded(),
            threshold=self._threshold,
            min_calls=self._min_calls,
            window=self._window,
        )

    def __repr__(self) -> str:
        return (
            f"TimeoutRatio(threshold={self._threshold!r}, window={self._window!r}, "
            f"min_calls={self._min_calls!r})"
        )
