"""The built-in checks, one module each; importing this package registers their policy sections
and factories.

Each check adapts exactly one primitive to the chain and never re-implements it. Costs, cheapest
first: loop detection 5, concurrency 10, per-client concurrency 12, breaker 15, token bucket /
window 20, warm-up 22, hotspot 24, adaptive concurrency 26; waiting checks: shedding 30, pacing 40,
bulkhead 45, Redis 50, queue delay 60 (last: it measures the wait right before the handler).
The ``priority`` section has no check of its own: it partitions adaptive concurrency into traffic
classes.
"""

from __future__ import annotations

from seawall.governance.checks._adaptive_concurrency import (
    ADAPTIVE_CONCURRENCY,
    AdaptiveConcurrencyCheck,
    AdaptiveConcurrencyPolicy,
    PartitionedConcurrencyCheck,
)
from seawall.governance.checks._breaker import BREAKER, BreakerCheck, BreakerPolicy
from seawall.governance.checks._bulkhead import BULKHEAD, BulkheadCheck, BulkheadPolicy
from seawall.governance.checks._client_concurrency import (
    CLIENT_KEY,
    MAX_CONNS_PER_CLIENT,
    ClientConcurrencyCheck,
)
from seawall.governance.checks._concurrency import MAX_CONNS, ConcurrencyCheck
from seawall.governance.checks._hotspot import HOTSPOTS, HotspotCheck, HotspotPolicy
from seawall.governance.checks._limiter import LimiterCheck
from seawall.governance.checks._loop import (
    CALL_CHAIN_HEADER,
    LOOP_DETECTION,
    MAX_CHAIN,
    Inbound,
    LoopCheck,
    LoopPolicy,
    inbound,
    parse_chain,
)
from seawall.governance.checks._pacing import PACING, PacingCheck, PacingPolicy
from seawall.governance.checks._priority import PRIORITY, PriorityPolicy
from seawall.governance.checks._queue_delay import QUEUE_DELAY, QueueDelayCheck, QueueDelayPolicy
from seawall.governance.checks._rate_limit import RATE_LIMIT, RateLimitPolicy
from seawall.governance.checks._redis import RedisLimiterCheck
from seawall.governance.checks._shedding import (
    SHEDDING,
    QueueAwareCpu,
    SheddingCheck,
    SheddingPolicy,
    ShedPartitions,
)
from seawall.governance.checks._warmup import WARMUP, WarmUpPolicy
from seawall.governance.checks._window import WINDOW, WindowPolicy

__all__ = [
    "ADAPTIVE_CONCURRENCY",
    "BREAKER",
    "BULKHEAD",
    "CALL_CHAIN_HEADER",
    "CLIENT_KEY",
    "HOTSPOTS",
    "LOOP_DETECTION",
    "MAX_CHAIN",
    "MAX_CONNS",
    "MAX_CONNS_PER_CLIENT",
    "PACING",
    "PRIORITY",
    "QUEUE_DELAY",
    "RATE_LIMIT",
    "SHEDDING",
    "WARMUP",
    "WINDOW",
    "AdaptiveConcurrencyCheck",
    "AdaptiveConcurrencyPolicy",
    "BreakerCheck",
    "BreakerPolicy",
    "BulkheadCheck",
    "BulkheadPolicy",
    "ClientConcurrencyCheck",
    "ConcurrencyCheck",
    "HotspotCheck",
    "HotspotPolicy",
    "Inbound",
    "LimiterCheck",
    "LoopCheck",
    "LoopPolicy",
    "PacingCheck",
    "PacingPolicy",
    "PartitionedConcurrencyCheck",
    "PriorityPolicy",
    "QueueAwareCpu",
    "QueueDelayCheck",
    "QueueDelayPolicy",
    "RateLimitPolicy",
    "RedisLimiterCheck",
    "ShedPartitions",
    "SheddingCheck",
    "SheddingPolicy",
    "WarmUpPolicy",
    "WindowPolicy",
    "inbound",
    "parse_chain",
]
