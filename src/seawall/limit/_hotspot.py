"""Hotspot (parameter) limiting: one token bucket per argument value, in a bounded LRU."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import final

from seawall._clock import MONOTONIC, Clock
from seawall.limit._token_bucket import TokenBucket

__all__ = ["HotspotLimiter", "HotspotLimiterStatistics"]


@dataclass(frozen=True, slots=True)
class HotspotLimiterStatistics:
    """A snapshot of a :class:`HotspotLimiter`."""

    #: Calls to ``try_acquire`` that were admitted.
    admitted: int
    #: Calls to ``try_acquire`` that were refused.
    rejected: int
    #: Values currently tracked (each with its own bucket).
    values: int
    #: Values dropped from the LRU to stay within ``max_values``.
    evicted: int
    #: The most values tracked at once.
    max_values: int


@final
class HotspotLimiter:
    """Limit each value of a request parameter separately: ``rate`` per second per value.

    Use it when a few values of one parameter carry most of the load (a flash-sale product id, a
    celebrity's user id) and must not starve the rest: every value gets its own token bucket,
    and ``overrides`` give chosen values their own rate (the hot product at 5/s, the rest at 100/s).

    Buckets are created on a value's first request, start full, and live in an LRU of at most
    ``max_values`` values; the least recently used is dropped first. A dropped value that comes
    back starts with a full bucket again, so ``max_values`` should comfortably exceed the number
    of values active within a burst period.

    Follows Sentinel's hot-parameter flow control (``ParamFlowChecker.java``, default
    ``passDefaultLocalCheck``: a token count per value with ``ParamFlowItem`` exceptions, kept in
    an LRU ``CacheMap`` bounded per rule), with a continuous token bucket in place of its
    per-``durationInSec`` refill.

    Args:
        rate: units per second for each value without an override (> 0).
        burst: bucket capacity for those values; default ``ceil(rate)`` (one second's worth).
            An overridden value's capacity covers the same number of seconds of its own rate:
            ``round(burst * override / rate)``, or ``ceil(override)`` when ``burst`` is None;
            never less than 1.
        overrides: per-value rates (> 0) replacing ``rate`` for those values.
        max_values: the most values tracked at once (>= 1).
        clock: the time source; tests pass :class:`seawall.testing.MockClock`.

    Example::

        per_product = HotspotLimiter(rate=100, overrides={"sku-42": 5})
        if not per_product.try_acquire(request.query["sku"]):
            raise RateLimited(retry_after=per_product.retry_after(request.query["sku"]))
    """

    __slots__ = (
        "_admitted",
        "_buckets",
        "_burst",
        "_clock",
        "_evicted",
        "_max_values",
        "_overrides",
        "_rate",
        "_rejected",
    )

    def __init__(
        self,
        *,
        rate: float,
        burst: int | None = None,
        overrides: Mapping[Hashable, float] | None = None,
        max_values: int = 10_000,
        clock: Clock = MONOTONIC,
    ) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be > 0 and finite")
        if burst is not None and burst < 1:
            raise ValueError("burst must be >= 1")
        if max_values < 1:
            raise ValueError("max_values must be >= 1")
        self._rate = float(rate)
        self._burst = burst if burst is not None else max(1, math.ceil(rate))
        self._overrides: dict[Hashable, tuple[float, int]] = {}
        for value, value_rate in (overrides or {}).items():
            if not value_rate > 0 or math.isinf(value_rate):
                raise ValueError(f"overrides[{value!r}] must be > 0 and finite")
            capacity = math.ceil(value_rate) if burst is None else round(burst * value_rate / rate)
            self._overrides[value] = (float(value_rate), max(1, capacity))
        self._max_values = int(max_values)
        self._clock = clock
        self._buckets: OrderedDict[Hashable, TokenBucket] = OrderedDict()
        self._admitted = 0
        self._rejected = 0
        self._evicted = 0

    def _limits(self, value: Hashable) -> tuple[float, int]:
        return self._overrides.get(value) or (self._rate, self._burst)

    def _new_bucket(self, value: Hashable) -> TokenBucket:
        rate, burst = self._limits(value)
        bucket = TokenBucket(rate=rate, burst=burst, clock=self._clock)
        self._buckets[value] = bucket
        if len(self._buckets) > self._max_values:
            self._buckets.popitem(last=False)
            self._evicted += 1
        return bucket

    def try_acquire(self, value: Hashable, n: int = 1) -> bool:
        """Take ``n`` tokens from ``value``'s bucket if all are available; otherwise take none."""
        bucket = self._buckets.get(value)
        if bucket is None:
            bucket = self._new_bucket(value)
        else:
            self._buckets.move_to_end(value)
        if bucket.try_acquire(n):
            self._admitted += 1
            return True
        self._rejected += 1
        return False

    def retry_after(self, value: Hashable, n: int = 1) -> float:
        """Seconds until ``value``'s bucket holds ``n`` tokens: 0.0 if now, ``inf`` if never."""
        bucket = self._buckets.get(value)
        if bucket is not None:
            return bucket.retry_after(n)
        # An untracked value would start with a full bucket.
        return 0.0 if n <= self._limits(value)[1] else math.inf

    def rate_for(self, value: Hashable) -> float:
        """The rate that applies to ``value``."""
        return self._limits(value)[0]

    def statistics(self) -> HotspotLimiterStatistics:
        """A frozen snapshot of the counters and the LRU's size."""
        return HotspotLimiterStatistics(
            admitted=self._admitted,
            rejected=self._rejected,
            values=len(self._buckets),
            evicted=self._evicted,
            max_values=self._max_values,
        )

    def __repr__(self) -> str:
        return (
            f"HotspotLimiter(rate={self._rate!r}, burst={self._burst!r}, "
            f"overrides={len(self._overrides)}, max_values={self._max_values!r})"
        )
