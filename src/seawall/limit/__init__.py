"""Local (in-process) rate-limit primitives.

Each primitive is pure: no I/O, no global state, time only through an injected ``clock``. Each
reports a frozen ``statistics()`` snapshot, and has a no-op twin for when a limit is off.

- :class:`TokenBucket`: a steady rate with bounded bursts.
- :class:`LeakyBucket`: pacing, requests spaced ``n / rate`` apart, waiting up to ``max_wait``.
- :class:`SlidingWindow`: at most ``limit`` per ``window`` seconds, bucketed like Sentinel's LeapArray.
- :class:`ConcurrencyLimit`: at most ``limit`` in flight (nginx ``limit_conn``).
- :class:`WarmUp`: Sentinel's cold-start ramp from ``count / cold_factor`` up to ``count``.
- :class:`HotspotLimiter`: one token bucket per parameter value (hot product ids).
- :class:`KeyedConcurrencyLimit`: at most ``limit`` in flight per client key.
- :class:`KeyedLimiter`: one limiter of any kind per client key, in a bounded LRU.
- :class:`NoopLimiter`, :class:`NoopKeyedLimiter`: always admit.

Shared through Redis (``seawall[redis]``, imported on first use): :class:`RedisTokenBucket` and
:class:`RedisWindowLimiter` (one round trip per decision), :class:`RedisLeaseBucket` (lease mode:
tokens taken in batches, decisions local between them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall.limit._base import RateLimiter
from seawall.limit._concurrency_limit import ConcurrencyLimit, ConcurrencyLimitStatistics
from seawall.limit._hotspot import HotspotLimiter, HotspotLimiterStatistics
from seawall.limit._keyed_concurrency import KeyedConcurrencyLimit, KeyedConcurrencyLimitStatistics
from seawall.limit._keyed_limiter import KeyedLimiter, KeyedLimiterStatistics
from seawall.limit._leaky_bucket import LeakyBucket, LeakyBucketStatistics
from seawall.limit._noop_limiter import NoopKeyedLimiter, NoopLimiter, NoopLimiterStatistics
from seawall.limit._sliding_window import SlidingWindow, SlidingWindowStatistics
from seawall.limit._token_bucket import TokenBucket, TokenBucketStatistics
from seawall.limit._warmup import WarmUp, WarmUpStatistics

__all__ = [
    "ConcurrencyLimit",
    "ConcurrencyLimitStatistics",
    "HotspotLimiter",
    "HotspotLimiterStatistics",
    "KeyedConcurrencyLimit",
    "KeyedConcurrencyLimitStatistics",
    "KeyedLimiter",
    "KeyedLimiterStatistics",
    "LeakyBucket",
    "LeakyBucketStatistics",
    "NoopKeyedLimiter",
    "NoopLimiter",
    "NoopLimiterStatistics",
    "RateLimiter",
    "RedisDecision",
    "RedisLeaseBucket",
    "RedisLeaseStatistics",
    "RedisLimiterStatistics",
    "RedisTokenBucket",
    "RedisWindowLimiter",
    "SlidingWindow",
    "SlidingWindowStatistics",
    "TokenBucket",
    "TokenBucketStatistics",
    "WarmUp",
    "WarmUpStatistics",
]

if TYPE_CHECKING:
    from seawall.limit._redis import (
        RedisDecision,
        RedisLimiterStatistics,
        RedisTokenBucket,
        RedisWindowLimiter,
    )
    from seawall.limit._redis_lease import RedisLeaseBucket, RedisLeaseStatistics

_REDIS_NAMES = frozenset(
    {"RedisDecision", "RedisLimiterStatistics", "RedisTokenBucket", "RedisWindowLimiter"}
)
_LEASE_NAMES = frozenset({"RedisLeaseBucket", "RedisLeaseStatistics"})


def __getattr__(name: str) -> Any:
    # The Redis limiters need the optional `redis` package (seawall[redis]): import on first use.
    if name in _REDIS_NAMES:
        from seawall.limit import _redis

        return getattr(_redis, name)
    if name in _LEASE_NAMES:
        from seawall.limit import _redis_lease

        return getattr(_redis_lease, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
