"""Token bucket: a steady rate with a bounded burst."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

from seawall._clock import MONOTONIC, Clock

__all__ = ["TokenBucket", "TokenBucketStatistics"]


@dataclass(frozen=True, slots=True)
class TokenBucketStatistics:
    """A snapshot of a :class:`TokenBucket`."""

    #: Calls to ``try_acquire`` that were admitted.
    admitted: int
    #: Calls to ``try_acquire`` that were refused.
    rejected: int
    #: Tokens available at the moment of the snapshot (``0 <= tokens <= burst``).
    tokens: float
    #: Tokens added per second.
    rate: float
    #: Capacity of the bucket.
    burst: int


@final
class TokenBucket:
    """Admit up to ``rate`` units per second on average, with bursts of up to ``burst``.

    Use it for a route or client limit that should absorb short spikes (a page load firing ten
    requests) while holding the long-run rate. The bucket starts full; it refills continuously at
    ``rate`` tokens per second and never holds more than ``burst``. Over any interval of length
    ``T`` it admits at most ``burst + rate * T`` units.

    The refill is computed lazily from the clock on each call (no timer), as in Guava's
    ``SmoothBursty`` (``SmoothRateLimiter.java``) and golang.org/x/time/rate (``rate.go``); unlike
    those, a refused call reserves nothing: it is a pure admit-or-refuse check.

    Args:
        rate: tokens added per second (> 0).
        burst: capacity, the largest ``n`` that can ever be admitted at once (>= 1).
        clock: the time source; tests pass :class:`seawall.testing.MockClock`.

    Example::

        bucket = TokenBucket(rate=100, burst=20)
        if not bucket.try_acquire():
            raise RateLimited(retry_after=bucket.retry_after())
    """

    __slots__ = ("_admitted", "_burst", "_clock", "_last", "_rate", "_rejected", "_tokens")

    def __init__(self, *, rate: float, burst: int, clock: Clock = MONOTONIC) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be > 0 and finite")
        if burst < 1:
            raise ValueError("burst must be >= 1")
        self._rate = float(rate)
        self._burst = int(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()
        self._admitted = 0
        self._rejected = 0

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self._rate

    @property
    def burst(self) -> int:
        """Capacity of the bucket."""
        return self._burst

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are all available now; otherwise take none and return False."""
        if n < 1:
            raise ValueError("n must be >= 1")
        now = self._clock.now()
        elapsed = now - self._last
        if elapsed > 0:
            tokens = self._tokens + elapsed * self._rate
            self._tokens = tokens if tokens < self._burst else float(self._burst)
            self._last = now
        if self._tokens >= n:
            self._tokens -= n
            self._admitted += 1
            return True
        self._rejected += 1
        return False

    def _tokens_at(self, now: float) -> float:
        elapsed = now - self._last
        if elapsed <= 0:
            return self._tokens
        return min(float(self._burst), self._tokens + elapsed * self._rate)

    def retry_after(self, n: int = 1) -> float:
        """Seconds until ``n`` tokens would be available: 0.0 if now, ``inf`` if ``n > burst``."""
        if n > self._burst:
            return math.inf
        missing = n - self._tokens_at(self._clock.now())
        return missing / self._rate if missing > 0 else 0.0

    def statistics(self) -> TokenBucketStatistics:
        """A frozen snapshot; reading it changes nothing."""
        return TokenBucketStatistics(
            admitted=self._admitted,
            rejected=self._rejected,
            tokens=self._tokens_at(self._clock.now()),
            rate=self._rate,
            burst=self._burst,
        )

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self._rate!r}, burst={self._burst!r})"
