"""Event-loop lag: how late a timer on the serving loop fires (the delay every request waits).

:class:`LoopLagSampler` is a background task that sleeps a fixed interval and records how late
it wakes, the asyncio analogue of Node's ``perf_hooks.monitorEventLoopDelay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, final

from seawall._clock import MONOTONIC, Clock
from seawall.observe._histogram import check_buckets

__all__ = ["LOOP_LAG_BUCKETS", "LoopLagSampler", "LoopLagStatistics"]

#: Upper bounds (seconds) of the event-loop lag histogram: an idle loop wakes within a fraction
#: of a millisecond; anything over 100 ms is a blocked loop that delays every request.
LOOP_LAG_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True, slots=True)
class LoopLagStatistics:
    """A snapshot of :class:`LoopLagSampler`.

    Attributes:
        buckets: the histogram's upper bounds (seconds).
        counts: samples per bucket (not cumulative); the last entry is ``+Inf``.
        count: samples taken.
        sum: total lag (seconds) over all samples.
        last: the most recent sample's lag (seconds), 0 before the first.
    """

    buckets: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum: float
    last: float


@final
class LoopLagSampler:
    """Measures event-loop scheduling delay: how late a task wakes from a timed sleep.

    A background task sleeps ``interval`` seconds on the clock, then records
    ``now - (start + interval)``: the time the loop needed to get back to it, which every other
    callback and request on the loop also waited. A loop blocked by a 200 ms CPU burst is seen
    as lag of up to 200 ms by the sample whose timer fell due during the burst. One wake-up per
    ``interval`` (default 0.1 s: a few microseconds of CPU, 0.01-0.05 % of a core) keeps the cost
    negligible; shorter blocks than ``interval`` are seen with probability ``block / interval``.

    Follows Node's ``perf_hooks.monitorEventLoopDelay`` (a timer whose lateness is recorded in a
    histogram). The floor is the loop's timer granularity: asyncio's epoll selector rounds its
    timeout up to whole milliseconds, so an idle loop reads 0.5-1 ms; alert well above that
    (a p99 over 50-100 ms is a loop that something blocks).

    Args:
        interval: seconds between samples (> 0).
        clock: the time source and sleeper.
        buckets: upper bounds (seconds) of the lag histogram, strictly increasing.

    Example::

        sampler = LoopLagSampler()
        sampler.start()  # inside the running loop, e.g. in a startup hook
        ...
        await sampler.stop()
    """

    __slots__ = ("_buckets", "_clock", "_count", "_counts", "_interval", "_last", "_loop", "_sum", "_task")

    def __init__(
        self, *, interval: float = 0.1, clock: Clock = MONOTONIC, buckets: Sequence[float] = LOOP_LAG_BUCKETS
    ) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError("interval must be > 0 and finite")
        self._interval = interval
        self._clock = clock
        self._buckets = check_buckets(buckets)
        self._counts = [0] * (len(self._buckets) + 1)
        self._count = 0
        self._sum = 0.0
        self._last = 0.0
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def interval(self) -> float:
        """Seconds between samples."""
        return self._interval

    @property
    def running(self) -> bool:
        """Whether the sampling task is running."""
        return self._task is not None and not self._task.done()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the sampler was last started on."""
        return self._loop

    def observe(self, lag: float) -> None:
        """Record one sample of ``lag`` seconds (negative values count as 0)."""
        lag = max(0.0, lag)
        self._counts[bisect_left(self._buckets, lag)] += 1
        self._count += 1
        self._sum += lag
        self._last = lag

    async def tick(self) -> float:
        """Sleep one interval, record how late the wake-up was, and return that lag."""
        start = self._clock.now()
        await self._clock.sleep(self._interval)
        lag = self._clock.now() - start - self._interval
        self.observe(lag)
        return max(0.0, lag)

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            await self.tick()

    def start(self) -> None:
        """Start sampling on the running loop (no-op if it is already running)."""
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self.run(), name="seawall-loop-lag")

    async def stop(self) -> None:
        """Stop the sampling task and wait for it to end (no-op if it is not running)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def statistics(self) -> LoopLagStatistics:
        """The histogram so far."""
        return LoopLagStatistics(self._buckets, tuple(self._counts), self._count, self._sum, self._last)

    def __repr__(self) -> str:
        return f"LoopLagSampler(interval={self._interval!r}, count={self._count!r}, running={self.running!r})"
