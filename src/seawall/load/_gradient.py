"""Gradient2 concurrency limit (Netflix concurrency-limits ``limit/Gradient2Limit.java``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, final

__all__ = ["Gradient2Limit", "Gradient2LimitStatistics"]

#: Netflix ``ExpAvgMeasurement(longWindow, 10)``: the first 10 samples are a plain average.
_WARMUP: Final = 10


@dataclass(frozen=True, slots=True)
class Gradient2LimitStatistics:
    """A snapshot of a :class:`Gradient2Limit`."""

    #: The limit enforced now.
    limit: int
    #: The unrounded estimate the algorithm moves.
    estimate: float
    #: The long-term average RTT in seconds, Gradient2's no-load baseline (0.0 before a sample).
    long_rtt: float
    #: The RTT of the last sample in seconds (Gradient2's short-term RTT).
    last_rtt: float


@final
class Gradient2Limit:
    """A concurrency limit that follows the ratio of the long-term to the current latency.

    Per sample (Netflix ``Gradient2Limit._update``)::

        long_rtt  = exponential average of the RTTs over ``long_window`` samples
        gradient  = clamp(rtt_tolerance * long_rtt / rtt, 0.5, 1.0)
        new_limit = limit * gradient + queue_size
        limit     = clamp(limit * (1 - smoothing) + new_limit * smoothing, min_limit, max_limit)

    While the current RTT stays within ``rtt_tolerance`` of the baseline the limit grows by
    ``smoothing * queue_size`` per sample; when it exceeds it the limit shrinks, by at most
    ``smoothing / 2`` of itself per sample, and never below ``2 * queue_size`` (the fixed point of
    ``limit * 0.5 + queue_size``) unless samples are dropped. The limit does not move while fewer
    than half of it are in flight (app-limited), and when the baseline is over twice the current
    RTT it is cut by 5% per sample so that it recovers quickly.

    Netflix's defaults are kept: initial 20, min 20, max 200, smoothing 0.2, tolerance 1.5, long
    window 600, queue size 4. Two changes, both against Netflix/concurrency-limits#137 (with a
    constant RTT the gradient stays at 1 and the limit climbs to the maximum):

    - A **dropped** sample (timeout, shed) does not enter the baseline, whose value it would only
      corrupt, and cuts the limit by ``smoothing / 2`` (the steepest gradient, without the growth
      allowance), app-limited or not: constant timeouts take the limit down to ``min_limit``.
    - **The baseline learns only from unqueued samples.** Netflix averages every sample, so a
      queue held for about ``long_window`` samples becomes the baseline, the gradient returns to
      1 and the limit climbs again: under a sustained overload it drifts to the maximum within
      seconds at a few hundred requests per second (Netflix feeds it one aggregated sample per
      second through ``WindowedLimit``, which only slows the drift). Here, after the 10-sample
      warm-up, a sample teaches the baseline only if it was admitted app-limited (fewer than half
      the limit in flight) or with no more than ``min_limit`` in flight (the least load the limiter
      ever allows, so a genuinely slower service is still learned once the limit reaches the
      floor). Set ``min_limit`` below the width of the bottleneck for this to hold latency.

    A constant RTT *without* drops, at full concurrency, still grows the limit to ``max_limit``:
    it means no queue. Gradient2 holds the RTT at up to ``rtt_tolerance`` times the baseline;
    :class:`VegasLimit` holds a queue of a few requests, which is tighter.

    Args:
        initial_limit: the starting limit.
        min_limit: the floor of the limit.
        max_limit: the ceiling of the limit (Netflix ``maxConcurrency``).
        smoothing: weight of the new limit against the old, in (0, 1].
        rtt_tolerance: how much above the baseline the RTT may be before the limit shrinks
            (>= 1).
        long_window: samples in the baseline's exponential average (factor ``2 / (n + 1)``).
        queue_size: the growth allowance per update: a number, or a function of the current
            integer limit (Netflix's ``queueSizeFunction``; Envoy uses ``sqrt``).

    Example::

        limiter = AdaptiveConcurrencyLimiter(limit=Gradient2Limit(min_limit=4, max_limit=100))
    """

    __slots__ = (
        "_count",
        "_estimate",
        "_factor",
        "_last_rtt",
        "_limit",
        "_long_rtt",
        "_max_limit",
        "_min_limit",
        "_queue_fn",
        "_queue_size",
        "_smoothing",
        "_sum",
        "_tolerance",
    )

    def __init__(
        self,
        *,
        initial_limit: int = 20,
        min_limit: int = 20,
        max_limit: int = 200,
        smoothing: float = 0.2,
        rtt_tolerance: float = 1.5,
        long_window: int = 600,
        queue_size: float | Callable[[int], float] = 4,
    ) -> None:
        if min_limit < 1:
            raise ValueError("min_limit must be >= 1")
        if max_limit < min_limit:
            raise ValueError("max_limit must be >= min_limit")
        if not min_limit <= initial_limit <= max_limit:
            raise ValueError("initial_limit must be in [min_limit, max_limit]")
        if not 0 < smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")
        if not rtt_tolerance >= 1 or math.isinf(rtt_tolerance):
            raise ValueError("rtt_tolerance must be >= 1 and finite")
        if long_window < 1:
            raise ValueError("long_window must be >= 1")
        if callable(queue_size):
            self._queue_fn: Callable[[int], float] | None = queue_size
            self._queue_size = 0.0
        else:
            if not queue_size >= 0 or math.isinf(queue_size):
                raise ValueError("queue_size must be >= 0 and finite")
            self._queue_fn = None
            self._queue_size = float(queue_size)
        self._min_limit = int(min_limit)
        self._max_limit = int(max_limit)
        self._smoothing = float(smoothing)
        self._tolerance = float(rtt_tolerance)
        self._factor = 2.0 / (long_window + 1)
        self._estimate = float(initial_limit)
        self._limit = int(initial_limit)
        self._long_rtt = 0.0
        self._sum = 0.0
        self._count = 0
        self._last_rtt = 0.0

    @property
    def limit(self) -> int:
        """The most requests allowed in flight now."""
        return self._limit

    @property
    def rtt_noload(self) -> float:
        """The long-term average RTT in seconds, Gradient2's baseline (0.0 before a sample)."""
        return self._long_rtt

    def on_sample(self, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        """Record one completed request (see :meth:`Limit.on_sample`)."""
        if not rtt > 0:
            return
        estimate = self._estimate
        s = self._smoothing
        if dropped:
            # The steepest gradient (0.5) without the growth allowance: repeated drops reach the floor.
            new = estimate * (1.0 - 0.5 * s)
        else:
            self._last_rtt = rtt
            saturated = inflight >= estimate / 2
            if self._count < _WARMUP:
                self._count += 1
                self._sum += rtt
                long_rtt = self._sum / self._count
            elif saturated and inflight > self._min_limit:
                long_rtt = self._long_rtt  # admitted into a queue we made: not a baseline sample
            else:
                long_rtt = self._long_rtt * (1.0 - self._factor) + rtt * self._factor
            if long_rtt > 2.0 * rtt:
                long_rtt *= 0.95  # back to steady state quickly after a long overload
            self._long_rtt = long_rtt
            if not saturated:
                return  # app-limited: no evidence about capacity
            fn = self._queue_fn
            queue_size = self._queue_size if fn is None else fn(int(estimate))
            gradient = self._tolerance * long_rtt / rtt
            if gradient > 1.0:
                gradient = 1.0
            elif gradient < 0.5:
                gradient = 0.5
            new = estimate * (1.0 - s) + (estimate * gradient + queue_size) * s
        if new < self._min_limit:
            new = float(self._min_limit)
        elif new > self._max_limit:
            new = float(self._max_limit)
        self._estimate = new
        self._limit = int(new)

    def statistics(self) -> Gradient2LimitStatistics:
        """A frozen snapshot; reading it changes nothing."""
        return Gradient2LimitStatistics(
            limit=self._limit,
            estimate=self._estimate,
            long_rtt=self._long_rtt,
            last_rtt=self._last_rtt,
        )

    def __repr__(self) -> str:
        return f"Gradient2Limit(limit={self._limit!r}, long_rtt={self._long_rtt!r})"
