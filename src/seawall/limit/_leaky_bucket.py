"""Leaky bucket as a pacer: admitted requests leave evenly spaced, the rest wait or are refused."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

from seawall._clock import MONOTONIC, Clock

__all__ = ["LeakyBucket", "LeakyBucketStatistics"]


@dataclass(frozen=True, slots=True)
class LeakyBucketStatistics:
    """A snapshot of a :class:`LeakyBucket`."""

    #: Requests admitted (immediately or after a wait).
    admitted: int
    #: Of ``admitted``, those that were told to wait first.
    delayed: int
    #: Requests refused because their wait would have exceeded ``max_wait``.
    rejected: int
    #: Seconds of already-reserved pacing ahead of a request arriving now (0.0 when idle).
    backlog: float
    #: Units admitted per second.
    rate: float
    #: The longest wait a request is allowed to take, in seconds.
    max_wait: float


@final
class LeakyBucket:
    """Pace requests ``n / rate`` seconds apart; queue up to ``max_wait`` seconds, refuse beyond.

    Use it in front of something that must see a smooth flow, not bursts (a downstream that
    allows 20 calls per second, a message relay). A request arriving when the schedule is free
    goes at once; otherwise it is given the next slot and told how long to wait, unless that wait
    exceeds ``max_wait``, in which case it is refused and nothing is reserved. There is no burst:
    after an idle period the next request goes at once and the one after waits a full interval.

    Follows Sentinel's ``ThrottlingController.java`` (``RateLimiterController`` before 1.8.2):
    the request's cost ``acquire / count`` is added to the time the previous request passed.
    Sentinel rounds the cost to whole milliseconds (``costTime = round(1000 * acquire / count)``),
    which stops pacing altogether above 2000 requests per second; here the cost is exact float
    seconds. Like Sentinel, a waiter that gives up (is cancelled) keeps its slot.

    Args:
        rate: units admitted per second (> 0).
        max_wait: the longest wait to hand out, in seconds (>= 0; 0 means never wait).
        clock: the time source; tests pass :class:`seawall.testing.MockClock`.

    Example::

        pacer = LeakyBucket(rate=20, max_wait=0.5)
        if not await pacer.acquire():
            raise RateLimited(retry_after=pacer.retry_after())
        await call_downstream()
    """

    __slots__ = ("_admitted", "_clock", "_delayed", "_latest", "_max_wait", "_rate", "_rejected")

    def __init__(self, *, rate: float, max_wait: float, clock: Clock = MONOTONIC) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be > 0 and finite")
        if not max_wait >= 0:
            raise ValueError("max_wait must be >= 0")
        self._rate = float(rate)
        self._max_wait = float(max_wait)
        self._clock = clock
        # When the last admitted request was (or will be) let through.
        self._latest = -math.inf
        self._admitted = 0
        self._delayed = 0
        self._rejected = 0

    @property
    def rate(self) -> float:
        """Units admitted per second."""
        return self._rate

    @property
    def max_wait(self) -> float:
        """The longest wait handed out, in seconds."""
        return self._max_wait

    def reserve(self, n: int = 1) -> float | None:
        """Reserve the next slot for ``n`` units.

        Returns the seconds the caller must wait before proceeding (``0.0``: go now), or
        ``None`` if that wait would exceed ``max_wait``; then nothing is reserved.
        """
        if n < 1:
            raise ValueError("n must be >= 1")
        now = self._clock.now()
        expected = self._latest + n / self._rate
        if expected <= now:
            self._latest = now
            self._admitted += 1
            return 0.0
        wait = expected - now
        if wait > self._max_wait:
            self._rejected += 1
            return None
        self._latest = expected
        self._admitted += 1
        self._delayed += 1
        return wait

    def try_acquire(self, n: int = 1) -> bool:
        """Admit ``n`` units only if they may go now, without waiting; reserve nothing otherwise."""
        if n < 1:
            raise ValueError("n must be >= 1")
        now = self._clock.now()
        if self._latest + n / self._rate <= now:
            self._latest = now
            self._admitted += 1
            return True
        self._rejected += 1
        return False

    async def acquire(self, n: int = 1) -> bool:
        """Reserve a slot and sleep on the clock until it comes; False (at once) if refused."""
        wait = self.reserve(n)
        if wait is None:
            return False
        if wait > 0:
            await self._clock.sleep(wait)
        return True

    def retry_after(self, n: int = 1) -> float:
        """Seconds until :meth:`reserve` of ``n`` units would be accepted; 0.0 if now."""
        wait = self._latest + n / self._rate - self._clock.now()
        return wait - self._max_wait if wait > self._max_wait else 0.0

    def statistics(self) -> LeakyBucketStatistics:
        """A frozen snapshot; reading it changes nothing."""
        backlog = self._latest - self._clock.now()
        return LeakyBucketStatistics(
            admitted=self._admitted,
            delayed=self._delayed,
            rejected=self._rejected,
            backlog=backlog if backlog > 0 else 0.0,
            rate=self._rate,
            max_wait=self._max_wait,
        )

    def __repr__(self) -> str:
        return f"LeakyBucket(rate={self._rate!r}, max_wait={self._max_wait!r})"
