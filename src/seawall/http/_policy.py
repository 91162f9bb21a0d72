"""Per-route governance policy: what the compiled chain enforces for one route.

A :class:`Policy` is plain configuration (a msgspec Struct), so the same shape comes from code
(``@service.get(..., policy=Policy(timeout=1.0))``), from ``seawall.yaml`` (``routes:`` section) and
from the rules API at run time. It holds no state; the chain compiler turns it into checks.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

__all__ = [
    "BARE",
    "DEFAULT_POLICY",
    "BulkheadPolicy",
    "HotspotPolicy",
    "KeySpec",
    "PacingPolicy",
    "Policy",
    "RateLimitPolicy",
    "SheddingPolicy",
    "WarmUpPolicy",
    "WindowPolicy",
]


#: Where a per-client or hotspot key comes from: ``"ip"`` (the peer address), ``"global"`` (one key
#: for everyone), ``"header:<name>"``, ``"query:<name>"``, ``"path:<placeholder>"``, or ``"fn:<name>"`` for
#: a function registered with ``Service.key_function(name)``.
KeySpec = str


def _check_key(key: str, what: str) -> None:
    if key in ("ip", "global") or (
        key.partition(":")[0] in ("header", "query", "path", "fn") and key.partition(":")[2]
    ):
        return
    raise ValueError(
        f"{what} must be 'ip', 'global', 'header:<name>', 'query:<name>', 'path:<name>' or 'fn:<name>', "
        f"not {key!r}"
    )


class RateLimitPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A token bucket: ``rate`` requests/s with bursts of ``burst`` (429 beyond), per ``key``.

    ``backend: redis`` shares the bucket between replicas through Redis (``redis_url``); each
    replica falls back to ``rate / replicas`` locally while Redis is unreachable.
    """

    rate: float
    burst: int | None = None
    key: KeySpec = "global"
    backend: Literal["local", "redis"] = "local"
    replicas: int = 1

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be > 0")
        if self.burst is not None and self.burst < 1:
            raise ValueError("burst must be >= 1")
        if self.replicas < 1:
            raise ValueError("replicas must be >= 1")
        _check_key(self.key, "key")

    @property
    def effective_burst(self) -> int:
        return self.burst if self.burst is not None else max(1, int(self.rate))


class WindowPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """At most ``limit`` requests per sliding ``window`` seconds (total QPS), per ``key``."""

    limit: int
    window: float = 1.0
    key: KeySpec = "global"
    backend: Literal["local", "redis"] = "local"
    replicas: int = 1

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("limit must be >= 1")
        if self.window <= 0:
            raise ValueError("window must be > 0")
        _check_key(self.key, "key")


class PacingPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Leaky-bucket pacing (Sentinel ThrottlingController): requests spaced ``1/rate`` s apart,
    each waiting at most ``max_wait`` seconds for its slot (429 beyond)."""

    rate: float
    max_wait: float = 0.5

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be > 0")
        if self.max_wait < 0:
            raise ValueError("max_wait must be >= 0")


class WarmUpPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Sentinel WarmUpController: ramp from ``count / cold_factor`` to ``count`` requests/s over
    ``period`` seconds after a cold start or an idle spell."""

    count: float
    period: float = 10.0
    cold_factor: int = 3

    def __post_init__(self) -> None:
        if self.count <= 0:
            raise ValueError("count must be > 0")
        if self.period <= 0:
            raise ValueError("period must be > 0")
        if self.cold_factor <= 1:
            raise ValueError("cold_factor must be > 1")


class HotspotPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Per-value limits on one parameter (``key``), e.g. ``path:item_id`` at ``rate``/s each, with
    ``overrides`` for named hot values; at most ``max_values`` values are tracked (LRU)."""

    key: KeySpec
    rate: float
    burst: int | None = None
    overrides: dict[str, float] = msgspec.field(default_factory=dict)
    max_values: int = 10_000

    def __post_init__(self) -> None:
        _check_key(self.key, "hotspot key")
        if self.rate <= 0 or any(r <= 0 for r in self.overrides.values()):
            raise ValueError("rate and overrides must be > 0")
        if self.burst is not None and self.burst < 1:
            raise ValueError("burst must be >= 1")
        if self.max_values < 1:
            raise ValueError("max_values must be >= 1")


class BulkheadPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """At most ``max_concurrent`` running; up to ``max_queue`` more wait up to ``max_wait`` s."""

    max_concurrent: int
    max_queue: int = 0
    max_wait: float = 0.0

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        if self.max_queue < 0 or self.max_wait < 0:
            raise ValueError("max_queue and max_wait must be >= 0")


class SheddingPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Adaptive (BBR-style) load shedding: drop when CPU usage (permille of what this process may
    use) is over ``cpu_threshold`` and in-flight exceeds maxPass x minRT. ``priority`` routes use
    go-zero's higher threshold ``(cpu_threshold + 1000) / 2``."""

    cpu_threshold: int = 900
    priority: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.cpu_threshold <= 1000:
            raise ValueError("cpu_threshold must be in 1..1000")


class Policy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Governance for one route.

    Attributes:
        timeout: seconds the handler may run before it is cancelled with 504
            ``DEADLINE_EXCEEDED``; ``None`` for no limit. An incoming deadline header
            (``X-Seawall-Deadline-Ms``) can only shorten it.
        max_conns: concurrent requests admitted on this route (go-zero ``MaxConns``); beyond it
            the request is rejected at once with 503 ``OVERLOADED``. ``None`` for no limit.
        max_conns_per_client: the same, per ``client_key`` (nginx ``limit_conn``).
        client_key: how clients are told apart for per-client limits.
        max_body: largest request body accepted, in bytes (413 beyond it).
        metrics: count requests and latency in ``/metrics``.
        rate_limit / window / pacing / warmup / hotspots: rate limits (429 ``RATE_LIMITED``).
        bulkhead: bounded concurrency with a bounded wait queue (503 when full).
        shedding: adaptive load shedding (503 ``OVERLOADED``).
    """

    timeout: float | None = 10.0
    max_conns: int | None = 10_000
    max_conns_per_client: int | None = None
    client_key: KeySpec = "ip"
    max_body: int = 1 << 20
    metrics: bool = True
    rate_limit: RateLimitPolicy | None = None
    window: WindowPolicy | None = None
    pacing: PacingPolicy | None = None
    warmup: WarmUpPolicy | None = None
    hotspots: tuple[HotspotPolicy, ...] = ()
    bulkhead: BulkheadPolicy | None = None
    shedding: SheddingPolicy | None = None

    def __post_init__(self) -> None:
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("timeout must be > 0 (or None)")
        if self.max_conns is not None and self.max_conns < 1:
            raise ValueError("max_conns must be >= 1 (or None)")
        if self.max_conns_per_client is not None and self.max_conns_per_client < 1:
            raise ValueError("max_conns_per_client must be >= 1 (or None)")
        if self.max_body < 0:
            raise ValueError("max_body must be >= 0")
        _check_key(self.client_key, "client_key")


#: The default chain: concurrency limit, timeout and request metrics.
DEFAULT_POLICY: Final = Policy()

#: No checks and no metrics: the handler alone (built-in endpoints and benchmarks use it).
BARE: Final = Policy(timeout=None, max_conns=None, metrics=False)
