"""Local (in-process) rate-limit primitives.

Each primitive is pure: no I/O, no global state, time only through an injected ``clock``. Each
reports a frozen ``statistics()`` snapshot, and :class:`NoopLimiter` stands in for any of them
when a limit is switched off.

================== =============================================================================
:class:`TokenBucket`       steady rate with bounded bursts
:class:`LeakyBucket`       pacing: requests spaced ``1/rate`` apart, queueing up to ``max_wait``
:class:`SlidingWindow`     at most ``limit`` per ``window`` seconds, bucketed like Sentinel's LeapArray
:class:`ConcurrencyLimit`  at most ``limit`` in flight (nginx ``limit_conn``)
:class:`WarmUp`            Sentinel's cold-start ramp from ``count / cold_factor`` up to ``count`` QPS
:class:`HotspotLimiter`    one token bucket per parameter value (hot product ids)
:class:`KeyedLimiter`      one limiter of any kind per client key, in a bounded LRU
:class:`NoopLimiter`       always admits
================== =============================================================================
"""

from __future__ import annotations

from seawall.limit._base import RateLimiter
from seawall.limit._token_bucket import TokenBucket, TokenBucketStatistics

# Re-exported here once ``_redis.py`` lands (owned by the distributed-limits work):
# from seawall.limit._redis import RedisTokenBucket, RedisWindowLimiter

__all__ = [
    "RateLimiter",
    "TokenBucket",
    "TokenBucketStatistics",
]
