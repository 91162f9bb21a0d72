"""Warm-up (cold start) limiter: Sentinel's WarmUpController, formula for formula."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

from seawall._clock import MONOTONIC, Clock

__all__ = ["WarmUp", "WarmUpStatistics"]


@dataclass(frozen=True, slots=True)
class WarmUpStatistics:
    """A snapshot of a :class:`WarmUp` limiter."""

    #: Calls to ``try_acquire`` that were admitted.
    admitted: int
    #: Calls to ``try_acquire`` that were refused.
    rejected: int
    #: The stable (warm) rate, units per second.
    count: float
    #: Seconds to go from cold to warm under steady demand.
    warmup_period: float
    #: How much slower than ``count`` the coldest rate is.
    cold_factor: int
    #: Stored tokens below which the limiter is fully warm.
    warning_tokens: int
    #: Stored tokens of a fully cold limiter.
    max_tokens: int
    #: How fast the admitted interval grows per stored token above ``warning_tokens``.
    slope: float
    #: Tokens stored now (high = cold, unused; low = warm, busy).
    stored_tokens: int
    #: Units per second allowed at the current stored tokens.
    allowed_qps: float
    #: Units admitted so far in the current second.
    pass_qps: int


@final
class WarmUp:
    """Ramp a cold service from ``count / cold_factor`` up to ``count`` units per second.

    Use it for a service that needs warming after start or after being idle (connection pools,
    JIT, caches): a sudden full-rate burst on a cold service can knock it over even though it
    handles that rate once warm. Under steady demand the allowed rate climbs from the cold rate
    to ``count`` over about ``warmup_period`` seconds; after a long quiet spell it cools down again.

    Implements Sentinel's ``WarmUpController.java`` exactly, integer truncation included:

    - ``warning_tokens = int(warmup_period * count) // (cold_factor - 1)``
    - ``max_tokens = warning_tokens + int(2 * warmup_period * count / (1.0 + cold_factor))``
    - ``slope = (cold_factor - 1.0) / count / (max_tokens - warning_tokens)``
    - once per second (``syncToken``/``coolDownTokens``), using the previous second's passes:
      below ``warning_tokens`` tokens are added at ``count`` per elapsed second; above it only
      while the previous second passed fewer than ``int(count) // cold_factor``; capped at
      ``max_tokens``; then the previous second's passes are taken away (not below zero);
    - a request passes when ``passes_this_second + n <= allowed``, where ``allowed`` is
      ``count`` below ``warning_tokens`` and ``nextUp(1 / (above * slope + 1 / count))`` with
      ``above = stored - warning_tokens`` otherwise.

    Sentinel's published vector: ``count=10, warmup_period=10, cold_factor=3`` gives warning
    tokens 50, max tokens 100, slope 0.004 and a cold rate of 10/3 per second.

    Differences, both from where Sentinel's statistics live rather than from the algorithm:
    passes are counted per whole second of the clock (Sentinel reads ``passQps`` from a rolling
    1 s window of two 500 ms buckets), and the limiter starts cold (Sentinel's first
    ``syncToken`` fills the bucket from a zero fill time, which comes to the same thing).

    Args:
        count: the stable rate, units per second (> 0).
        warmup_period: seconds to go from cold to warm under steady demand (> 0).
        cold_factor: the cold rate is ``count / cold_factor`` (> 1; Sentinel's default 3).
        clock: the time source; tests pass :class:`seawall.testing.MockClock`.

    Example::

        warm = WarmUp(count=200, warmup_period=30)
        if not warm.try_acquire():
            raise RateLimited(retry_after=warm.retry_after())
    """

    __slots__ = (
        "_admitted",
        "_clock",
        "_cold_factor",
        "_cool_threshold",
        "_count",
        "_inv_count",
        "_max_tokens",
        "_passed",
        "_rejected",
        "_second",
        "_slope",
        "_stored",
        "_warmup_period",
        "_warning",
    )

    def __init__(
        self, *, count: float, warmup_period: float, cold_factor: int = 3, clock: Clock = MONOTONIC
    ) -> None:
        if not count > 0 or math.isinf(count):
            raise ValueError("count must be > 0 and finite")
        if not warmup_period > 0 or math.isinf(warmup_period):
            raise ValueError("warmup_period must be > 0 and finite")
        if cold_factor <= 1:
            raise ValueError("cold_factor must be > 1")
        warning = int(warmup_period * count) // (cold_factor - 1)
        max_tokens = warning + int(2 * warmup_period * count / (1.0 + cold_factor))
        if max_tokens <= warning:
            # Sentinel divides by zero here (slope = Infinity) and then refuses everything.
            raise ValueError(
                f"warmup_period * count is too small for cold_factor {cold_factor}: "
                f"max_tokens ({max_tokens}) must exceed warning_tokens ({warning})"
            )
        self._count = float(count)
        self._warmup_period = float(warmup_period)
        self._inv_count = 1.0 / self._count
        self._cold_factor = int(cold_factor)
        self._warning = warning
        self._max_tokens = max_tokens
        self._slope = (cold_factor - 1.0) / count / (max_tokens - warning)
        self._cool_threshold = int(count) // cold_factor
        self._clock = clock
        # The whole second that _passed counts; it is also Sentinel's lastFilledTime, since
        # tokens are synced exactly when a new second is first seen.
        self._second = math.floor(clock.now())
        self._passed = 0
        # Sentinel's first syncToken refills from zero over decades: to max_tokens, unless the
        # warning line is 0, where coolDownTokens never adds (stored == warning).
        self._stored = max_tokens if warning > 0 else 0
        self._admitted = 0
        self._rejected = 0

    @property
    def count(self) -> float:
        """The stable (warm) rate, units per second."""
        return self._count

    def _roll(self, second: int) -> None:
        # A new second: syncToken(passes of the previous second), then start counting afresh.
        elapsed = second - self._second
        previous = self._passed if elapsed == 1 else 0
        old = self._stored
        new = old
        if old < self._warning or (old > self._warning and previous < self._cool_threshold):
            # Same evaluation order as Sentinel's millisecond arithmetic, then truncation.
            new = int(old + elapsed * 1000 * self._count / 1000)
        if new > self._max_tokens:
            new = self._max_tokens
        new -= previous
        self._stored = new if new > 0 else 0
        self._passed = 0
        self._second = second

    def _allowed(self) -> float:
        above = self._stored - self._warning
        if above < 0:
            return self._count
        # Capped at count: for a barely-positive ``above`` the float division plus nextUp can land
        # a few ulps over count (found by Hypothesis), which Sentinel's formula never means to allow.
        return min(self._count, math.nextafter(1.0 / (above * self._slope + self._inv_count), math.inf))

    def try_acquire(self, n: int = 1) -> bool:
        """Admit ``n`` units if this second's passes plus ``n`` stay within the allowed rate."""
        if n < 1:
            raise ValueError("n must be >= 1")
        second = math.floor(self._clock.now())
        if second > self._second:
            self._roll(second)
        if self._passed + n <= self._allowed():
            self._passed += n
            self._admitted += 1
            return True
        self._rejected += 1
        return False

    def _sync(self) -> float:
        # Rolling early is invisible: the next try_acquire would roll to the same state first.
        now = self._clock.now()
        second = math.floor(now)
        if second > self._second:
            self._roll(second)
        return now

    def retry_after(self, n: int = 1) -> float:
        """0.0 if ``n`` units would pass now, ``inf`` if ``n > count``, else the time to the next second.

        The next second is the earliest moment the answer can change (the pass counter starts
        over); while cold, a request for more than the cold rate may have to wait longer.
        """
        if n > self._count:
            return math.inf
        now = self._sync()
        if self._passed + n <= self._allowed():
            return 0.0
        return max(0.0, self._second + 1 - now)

    def statistics(self) -> WarmUpStatistics:
        """A frozen snapshot, with tokens synced to the current second."""
        self._sync()
        return WarmUpStatistics(
            admitted=self._admitted,
            rejected=self._rejected,
            count=self._count,
            warmup_period=self._warmup_period,
            cold_factor=self._cold_factor,
            warning_tokens=self._warning,
            max_tokens=self._max_tokens,
            slope=self._slope,
            stored_tokens=self._stored,
            allowed_qps=self._allowed(),
            pass_qps=self._passed,
        )

    def __repr__(self) -> str:
        return (
            f"WarmUp(count={self._count!r}, warmup_period={self._warmup_period!r}, "
            f"cold_factor={self._cold_factor!r})"
        )
