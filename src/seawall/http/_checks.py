"""The built-in checks and the factories that compile them from a :class:`Policy`.

Each check adapts one primitive (``seawall.limit``, ``seawall.load``, ``seawall.bulkhead``) to the
chain: ``enter(scope)`` raises a :class:`~seawall.errors.Rejected` with ``Retry-After`` derived from
the primitive's state, or returns an exit. Checks are memoised by the :class:`Governance` of the
service, so recompiling with an unchanged sub-policy keeps the limiter (and its state).

Costs, cheapest first: concurrency 10, per-client concurrency 12, token bucket / window 20,
warm-up 22, hotspot 24; async: shedding 30, pacing 40, bulkhead 45, Redis 50.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, MutableMapping
from typing import Any, Final, final

import msgspec

from seawall._clock import Clock
from seawall.bulkhead import Bulkhead
from seawall.errors import Overloaded, RateLimited
from seawall.http._chain import AsyncCheck, Check, CheckFactory, ConcurrencyCheck, Exit, RouteInfo
from seawall.http._policy import KeySpec, Policy, RateLimitPolicy, SheddingPolicy, WindowPolicy
from seawall.limit import HotspotLimiter, KeyedLimiter, LeakyBucket, SlidingWindow, TokenBucket, WarmUp
from seawall.limit._base import RateLimiter
from seawall.load import AdaptiveShedder, CpuProbe, ProcessCpuProbe, Shedder

__all__ = ["BUILTIN_FACTORIES", "Governance", "key_function"]

Scope = MutableMapping[str, Any]
KeyFn = Callable[[Scope], Hashable]
_MAX_KEYS: Final = 10_000


def key_function(spec: KeySpec, functions: Mapping[str, KeyFn] | None = None) -> KeyFn:
    """Compile a key spec (``ip``, ``global``, ``header:x``, ``query:x``, ``path:x``, ``fn:name``).

    ``fn:name`` names a function registered with :meth:`Service.key_function` (``functions``).
    """
    kind, _, name = spec.partition(":")
    if kind == "fn":
        if functions is None or name not in functions:
            raise ValueError(f"no key function named {name!r} is registered")
        return functions[name]
    if spec == "global":
        return lambda scope: ""
    if spec == "ip":

        def ip(scope: Scope) -> Hashable:
            client = scope.get("client")
            return str(client[0]) if client else ""

        return ip
    if kind == "header":
        raw = name.lower().encode("latin-1")

        def header(scope: Scope) -> Hashable:
            for k, v in scope["headers"]:
                if k == raw:
                    return str(v.decode("latin-1"))
            return ""

        return header
    if kind == "query":
        from urllib.parse import parse_qsl

        def query(scope: Scope) -> Hashable:
            qs = scope.get("query_string", b"")
            return dict(parse_qsl(qs.decode("latin-1"))).get(name, "") if qs else ""

        return query
    if kind == "path":
        return lambda scope: scope.get("path_params", {}).get(name, "")
    raise ValueError(f"bad key spec {spec!r}")


@final
class Governance:
    """Service-wide state shared by a service's checks.

    Holds the clock, the adaptive shedders (one per CPU threshold, so every route's in-flight and
    latency feed one picture of the process), the CPU probe, the Redis client for distributed
    limits, and the memo that lets a recompile keep unchanged checks.
    """

    def __init__(
        self, clock: Clock, *, cpu_probe: CpuProbe | None = None, redis_url: str | None = None
    ) -> None:
        self.clock = clock
        self._cpu_probe = cpu_probe
        self.redis_url = redis_url
        self._redis: Any = None
        self._shedders: dict[int, AdaptiveShedder] = {}
        self._memo: dict[tuple[Hashable, ...], Any] = {}
        self.redis_limiters: list[Any] = []
        #: Client-key functions by name, for key specs ``fn:<name>``.
        self.key_functions: dict[str, KeyFn] = {}

    def key(self, spec: KeySpec) -> KeyFn:
        """Compile a key spec, resolving ``fn:<name>`` against :attr:`key_functions`."""
        return key_function(spec, self.key_functions)

    @property
    def cpu_probe(self) -> CpuProbe:
        if self._cpu_probe is None:
            # Sampled every 50 ms with a faster EWMA than go-zero's (0.95 every 250 ms), rising
            # faster (0.2) than it falls (0.5): with go-zero's a saturated worker took ~11 s to cross
            # 900 permille and the queue built up meanwhile collapsed goodput; with 0.5 both ways the
            # first ~150 ms of an overload still queued up to ~120 ms, with rise 0.2 ~50 ms
            # (bench/overload.py).
            self._cpu_probe = ProcessCpuProbe(interval=0.05, decay=0.5, rise=0.2, clock=self.clock)
        return self._cpu_probe

    def start(self) -> None:
        """Start background sampling (the CPU probe), if any route sheds."""
        if self._shedders and isinstance(self._cpu_probe, ProcessCpuProbe):
            self._cpu_probe.start()

    async def stop(self) -> None:
        if isinstance(self._cpu_probe, ProcessCpuProbe):
            self._cpu_probe.stop()
        for limiter in self.redis_limiters:
            await limiter.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    def shedder(self, cpu_threshold: int) -> Shedder:
        shedder = self._shedders.get(cpu_threshold)
        if shedder is None:
            # running=1: shedding checks admit from the event loop's only thread, so no admitted
            # request is executing at that instant (see AdaptiveShedder; bench/overload.py: the
            # admitted p99 fell from ~5x to ~2.6x the unloaded p99 at the same goodput).
            shedder = self._shedders[cpu_threshold] = AdaptiveShedder(
                cpu=self.cpu_probe, cpu_threshold=cpu_threshold, running=1, clock=self.clock
            )
        return shedder

    def shedders(self) -> dict[int, AdaptiveShedder]:
        return dict(self._shedders)

    def redis(self) -> Any:
        if self._redis is None:
            if not self.redis_url:
                raise ValueError("a policy uses backend: redis but no redis_url is configured")
            import redis.asyncio as aredis  # optional dependency: seawall[redis]

            self._redis = aredis.Redis.from_url(self.redis_url)
        return self._redis

    def memo(self, key: tuple[Hashable, ...], build: Callable[[], Any]) -> Any:
        """Return the object built for ``key`` before, or build it now."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]


def _k(route: RouteInfo, kind: str, part: Any) -> tuple[Hashable, ...]:
    return (route.route, route.method, kind, msgspec.json.encode(part))


# -- checks -----------------------------------------------------------------------------------------


@final
class ClientConcurrencyCheck:
    """At most ``limit`` requests in flight per client key (nginx ``limit_conn``); 503 beyond."""

    __slots__ = ("_counts", "_key", "limit")
    name = "client_concurrency"
    cost = 12

    def __init__(self, limit: int, key: KeyFn) -> None:
        self.limit = limit
        self._key = key
        self._counts: dict[Hashable, int] = {}

    def enter(self, scope: Scope) -> Exit | None:
        key = self._key(scope)
        n = self._counts.get(key, 0)
        if n >= self.limit:
            raise Overloaded(
                f"{self.limit} requests of this client already in flight", retry_after=1.0, check=self.name
            )
        self._counts[key] = n + 1

        def leave(status: int) -> None:
            left = self._counts[key] - 1
            if left:
                self._counts[key] = left
            else:
                del self._counts[key]  # the map holds only clients with requests in flight

        return leave


@final
class LimiterCheck:
    """A non-waiting rate limiter (token bucket, window, warm-up), global or per key; 429 beyond."""

    __slots__ = ("_key", "_keyed", "_single", "cost", "name")

    def __init__(self, name: str, cost: int, factory: Callable[[], RateLimiter], key: KeyFn | None) -> None:
        """``key`` is ``None`` for one limiter shared by everyone."""
        self.name = name
        self.cost = cost
        self._single: RateLimiter | None = factory() if key is None else None
        self._keyed: KeyedLimiter[RateLimiter] | None = (
            None if key is None else KeyedLimiter(factory, max_keys=_MAX_KEYS)
        )
        self._key: KeyFn = key if key is not None else _global_key

    @property
    def limiter(self) -> RateLimiter | KeyedLimiter[RateLimiter]:
        return self._single if self._single is not None else self._keyed  # type: ignore[return-value]

    def enter(self, scope: Scope) -> Exit | None:
        single = self._single
        if single is not None:
            if single.try_acquire():
                return None
            raise RateLimited(retry_after=single.retry_after(), check=self.name)
        assert self._keyed is not None
        key = self._key(scope)
        if self._keyed.try_acquire(key):
            return None
        raise RateLimited(retry_after=self._keyed.retry_after(key), check=self.name)


@final
class HotspotCheck:
    """Per-value limits on one parameter (hot product ids); 429 for the hot value only."""

    __slots__ = ("_key", "limiter", "name")
    cost = 24

    def __init__(self, limiter: HotspotLimiter, key: KeyFn, spec: KeySpec) -> None:
        self.limiter = limiter
        self._key = key
        self.name = f"hotspot:{spec}"

    def enter(self, scope: Scope) -> Exit | None:
        value = self._key(scope)
        if self.limiter.try_acquire(value):
            return None
        raise RateLimited(
            f"too many requests for {value!r}", retry_after=self.limiter.retry_after(value), check=self.name
        )


@final
class SheddingCheck:
    """Adaptive load shedding: 503 when the shedder says the process is overloaded.

    It is async on purpose. In asyncio a CPU-bound handler runs to completion in its task's first
    step, so requests queued behind it on the event loop would be invisible to an in-flight count
    and the shedder would never see the queue (bench/overload.py: no shedding, congestion
    collapse). Yielding once after admission lets every queued request be admitted or shed before
    admitted work runs, which gives the shedder the view of in-flight work that a
    goroutine-per-request server (go-zero, Kratos) has; the response time is then measured from
    when the work starts (``ticket.begin()``), so loop queueing does not inflate ``min_rt``.
    """

    __slots__ = ("priority", "shedder")
    name = "shedding"
    cost = 30

    def __init__(self, shedder: Shedder, priority: bool) -> None:
        self.shedder = shedder
        self.priority = priority

    async def enter_async(self, scope: Scope) -> Exit | None:
        ticket = self.shedder.allow(self.priority)
        if ticket is None:
            raise Overloaded("shed: the service is overloaded", retry_after=1.0, check=self.name)
        if self.shedder.hot(self.priority):  # the yield only matters while shedding may happen
            try:
                await asyncio.sleep(0)
            except BaseException:
                ticket.reject()
                raise
            ticket.begin()

        def leave(status: int) -> None:
            # go-zero sheddinghandler: a 5xx is a failure (no pass recorded), anything else passes.
            if status >= 500:
                ticket.reject()
            else:
                ticket.accept()

        return leave


@final
class PacingCheck:
    """Leaky-bucket pacing: waits for the request's slot, or 429 when the wait would be too long."""

    __slots__ = ("clock", "limiter")
    name = "pacing"
    cost = 40

    def __init__(self, limiter: LeakyBucket, clock: Clock) -> None:
        self.limiter = limiter
        self.clock = clock

    async def enter_async(self, scope: Scope) -> Exit | None:
        wait = self.limiter.reserve()
        if wait is None:
            raise RateLimited(retry_after=self.limiter.retry_after(), check=self.name)
        if wait > 0:
            await self.clock.sleep(wait)
        return None


@final
class BulkheadCheck:
    """Bounded concurrency with a bounded wait queue; 503 when full or the wait runs out."""

    __slots__ = ("bulkhead",)
    name = "bulkhead"
    cost = 45

    def __init__(self, bulkhead: Bulkhead) -> None:
        self.bulkhead = bulkhead

    async def enter_async(self, scope: Scope) -> Exit | None:
        if self.bulkhead.try_acquire() or await self.bulkhead.acquire():
            return self._leave
        raise Overloaded("bulkhead full", retry_after=max(self.bulkhead.max_wait, 1.0), check=self.name)

    def _leave(self, status: int) -> None:
        self.bulkhead.release()


@final
class RedisLimiterCheck:
    """A limit shared by all replicas through Redis (falls back to a local share on outage)."""

    __slots__ = ("_key", "limiter", "name")
    cost = 50

    def __init__(self, name: str, limiter: Any, key: KeyFn) -> None:
        self.name = name
        self.limiter = limiter
        self._key = key

    async def enter_async(self, scope: Scope) -> Exit | None:
        if await self.limiter.try_acquire(key_suffix=str(self._key(scope))):
            return None
        raise RateLimited(retry_after=self.limiter.retry_after(), check=self.name)


# -- factories --------------------------------------------------------------------------------------


def _global_key(scope: Scope) -> Hashable:
    return ""


def _keyed(route: RouteInfo, spec: KeySpec) -> KeyFn | None:
    return None if spec == "global" else route.governance.key(spec)


def _concurrency(policy: Policy, route: RouteInfo) -> Check | None:
    if policy.max_conns is None:
        return None
    check: Check = route.governance.memo(
        _k(route, "conns", policy.max_conns), lambda: ConcurrencyCheck(policy.max_conns or 1)
    )
    return check


def _client_concurrency(policy: Policy, route: RouteInfo) -> Check | None:
    limit = policy.max_conns_per_client
    if limit is None:
        return None
    check: Check = route.governance.memo(
        _k(route, "client_conns", (limit, policy.client_key)),
        lambda: ClientConcurrencyCheck(limit, route.governance.key(policy.client_key)),
    )
    return check


def _redis_limiter(route: RouteInfo, kind: str, part: RateLimitPolicy | WindowPolicy) -> AsyncCheck:
    gov = route.governance

    def build() -> AsyncCheck:
        from seawall.limit._redis import RedisTokenBucket, RedisWindowLimiter

        key = f"seawall:{route.service}:{route.method}:{route.route}:{kind}"
        limiter: Any
        if isinstance(part, RateLimitPolicy):
            limiter = RedisTokenBucket(
                client=gov.redis(),
                key=key,
                rate=part.rate,
                burst=part.effective_burst,
                replicas=part.replicas,
                clock=gov.clock,
            )
        else:
            limiter = RedisWindowLimiter(
                client=gov.redis(),
                key=key,
                limit=part.limit,
                window=part.window,
                replicas=part.replicas,
                clock=gov.clock,
            )
        gov.redis_limiters.append(limiter)
        return RedisLimiterCheck(f"redis_{kind}", limiter, gov.key(part.key))

    check: AsyncCheck = gov.memo(_k(route, f"redis_{kind}", part), build)
    return check


def _limiter_check(
    route: RouteInfo, kind: str, cost: int, part: Any, factory: Callable[[], RateLimiter], key: KeySpec
) -> Check:
    """The (memoised) :class:`LimiterCheck` of one sub-policy of a route."""
    check: Check = route.governance.memo(
        _k(route, kind, part), lambda: LimiterCheck(kind, cost, factory, _keyed(route, key))
    )
    return check


def _rate_limit(policy: Policy, route: RouteInfo) -> Check | AsyncCheck | None:
    rl = policy.rate_limit
    if rl is None:
        return None
    if rl.backend == "redis":
        return _redis_limiter(route, "rate_limit", rl)
    clock = route.governance.clock
    return _limiter_check(
        route,
        "rate_limit",
        20,
        rl,
        lambda: TokenBucket(rate=rl.rate, burst=rl.effective_burst, clock=clock),
        rl.key,
    )


def _window(policy: Policy, route: RouteInfo) -> Check | AsyncCheck | None:
    w = policy.window
    if w is None:
        return None
    if w.backend == "redis":
        return _redis_limiter(route, "window", w)
    clock = route.governance.clock
    return _limiter_check(
        route, "window", 20, w, lambda: SlidingWindow(limit=w.limit, window=w.window, clock=clock), w.key
    )


def _warmup(policy: Policy, route: RouteInfo) -> Check | None:
    wu = policy.warmup
    if wu is None:
        return None
    clock = route.governance.clock
    return _limiter_check(
        route,
        "warmup",
        22,
        wu,
        lambda: WarmUp(count=wu.count, warmup_period=wu.period, cold_factor=wu.cold_factor, clock=clock),
        "global",
    )


def _pacing(policy: Policy, route: RouteInfo) -> AsyncCheck | None:
    p = policy.pacing
    if p is None:
        return None
    clock = route.governance.clock
    check: AsyncCheck = route.governance.memo(
        _k(route, "pacing", p),
        lambda: PacingCheck(LeakyBucket(rate=p.rate, max_wait=p.max_wait, clock=clock), clock),
    )
    return check


def _bulkhead(policy: Policy, route: RouteInfo) -> AsyncCheck | None:
    b = policy.bulkhead
    if b is None:
        return None
    clock = route.governance.clock
    check: AsyncCheck = route.governance.memo(
        _k(route, "bulkhead", b),
        lambda: BulkheadCheck(
            Bulkhead(max_concurrent=b.max_concurrent, max_queue=b.max_queue, max_wait=b.max_wait, clock=clock)
        ),
    )
    return check


def _shedding(policy: Policy, route: RouteInfo) -> AsyncCheck | None:
    s: SheddingPolicy | None = policy.shedding
    if s is None:
        return None
    return SheddingCheck(route.governance.shedder(s.cpu_threshold), s.priority)


class _Hotspots:
    """Factory for each hotspot rule (a policy may hold several)."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, policy: Policy, route: RouteInfo) -> Check | None:
        if self.index >= len(policy.hotspots):
            return None
        h = policy.hotspots[self.index]
        clock = route.governance.clock
        check: Check = route.governance.memo(
            _k(route, f"hotspot{self.index}", h),
            lambda: HotspotCheck(
                HotspotLimiter(
                    rate=h.rate,
                    burst=h.burst,
                    overrides=OrderedDict(h.overrides),
                    max_values=h.max_values,
                    clock=clock,
                ),
                route.governance.key(h.key),
                h.key,
            ),
        )
        return check


#: Every built-in factory; order does not matter (checks are sorted by cost).
BUILTIN_FACTORIES: Final[tuple[CheckFactory, ...]] = (
    _concurrency,
    _client_concurrency,
    _rate_limit,
    _window,
    _warmup,
    *(_Hotspots(i) for i in range(8)),
    _shedding,
    _pacing,
    _bulkhead,
)
