"""Lease mode: a replica takes tokens from the shared Redis bucket in batches and decides locally.

A :class:`~seawall.limit.RedisTokenBucket` makes one round trip per decision. In lease mode a
replica instead takes a **lease**, a batch of tokens debited atomically from the same kind of
shared bucket (one ``EVALSHA``: refill on Redis's clock, take up to ``want``, answer how many were
granted), and spends it on local decisions without any I/O. The shared limit stays exact in
total, because every admitted unit was debited from the one bucket; what leasing changes is
*when* a replica sees the bucket, not how many tokens exist.

The design decisions (see ``docs/limits.md``, "Lease mode"):

- **Size.** A lease is sized to last ``horizon`` seconds (100 ms by default) at this replica's
  recent demand (decisions asked, admitted or not, per second, smoothed over refills), bounded by
  ``min_lease`` and ``max_lease`` (by default the replica's share of the burst,
  ``burst // replicas``), and at least what the decisions waiting for it need (up to ``burst``):
  busy replicas take big leases and rarely ask, idle ones small leases.
- **Refill.** Asynchronously, one request in flight per key, as soon as the lease falls below half
  its size, so that a steady stream of decisions never waits on Redis.
- **Empty lease.** A decision that finds the lease empty waits for the refill in flight (or starts
  one), at most twice, each bounded by ``timeout``. It never admits on credit: that is what keeps
  the total exact. When Redis says the shared bucket is empty it is refused at once (no round
  trip) until the bucket can have refilled half a lease, with that wait as its ``retry_after``.
- **Expiry.** Tokens unused ``ttl`` (1 s) after their lease was granted are **returned** to the
  shared bucket (capped at its burst) with the next lease request, in the same Lua call, rather
  than lost: a replica whose traffic stopped neither strands tokens for long nor, when traffic
  resumes, spends tokens taken long ago on top of a bucket that has refilled since.
- **Failure.** Redis errors and timeouts switch to the same local fallback as the one-round-trip
  limiters (``rate / replicas``), with the same probing; tokens of a lease held at that moment
  are dropped (the safe side).

Bounds: over any interval a replica admits at most the tokens it took from Redis in that interval
plus what it held at its start (at most about 1.5 ``max_lease``); the replicas together admit at
most ``rate * T + burst`` plus what their leases held at the start. Tokens still leased when the
traffic ends are given back at the next decision or by :meth:`RedisLeaseBucket.aclose`.

Compared with the references: Google's Doorman (``youtube/doorman``, ``doc/design.md``) leases
*rates* from a master that apportions capacity by each client's ``wants``, with a lease length and
a refresh interval; here the "master" is one Lua call on the shared bucket and a lease is a count
of tokens, so no server of our own is needed and unused capacity flows back through the bucket.
go-zero's ``core/limit/tokenlimit.go`` and ``periodlimit.go`` make one Redis call per request
(a token bucket with a local rescue limiter, a fixed-window counter): exactly the cost this mode
removes. Envoy's global rate limiting (``envoy/extensions/filters/http/ratelimit``) also asks its
rate-limit service once per request; its local rate limit has no shared state at all.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections import OrderedDict
from typing import Final, final

from redis.asyncio import Redis

from seawall._clock import MONOTONIC, Clock
from seawall.limit._redis import (
    _BUCKET_STATE_LUA,
    _MAX_LOCAL_KEYS,
    _REDIS_FAILURES,
    RedisDecision,
    RedisLimiterStatistics,
    _bulk,
    _SharedBucket,
)

__all__ = ["RedisLeaseBucket", "RedisLeaseStatistics"]

# The shared bucket of RedisTokenBucket (same hash {tokens, ts}, same Redis-time refill and
# expiry), with two changes: ``give_back`` tokens are first returned (capped at burst), then up
# to ``want`` whole tokens are taken, as many as there are.
# ARGV: rate (tokens/s), burst, give_back, want.  Returns {granted, tokens left}.
_LEASE_LUA: Final = (
    _BUCKET_STATE_LUA
    + """tokens = math.min(burst, tokens + elapsed * rate / 1000000 + tonumber(ARGV[3]))
local granted = math.min(tonumber(ARGV[4]), math.floor(tokens))
if granted < 0 then granted = 0 end
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1)
return {granted, tostring(tokens)}
"""
)

#: Refills a decision waits for before it is refused (each bounded by ``timeout``).
_MAX_WAITS: Final = 2


@dataclasses.dataclass(frozen=True, slots=True)
class RedisLeaseStatistics(RedisLimiterStatistics):
    """A snapshot of a :class:`RedisLeaseBucket`: the fields of
    :class:`~seawall.limit.RedisLimiterStatistics` (``remote_decisions`` counts the decisions made
    on leased tokens, ``timeouts``, ``stalls`` and ``errors`` the lease requests), plus the leases."""

    #: Lease requests sent to Redis (each one ``EVALSHA``): the round trips.
    round_trips: int
    #: Tokens granted by Redis over all leases.
    leased: int
    #: Tokens of expired leases given back to the shared bucket.
    returned: int
    #: Tokens held right now, over every key.
    held: int


@final
class _Lease:
    """One key's lease: the tokens held and what sizes the next request."""

    __slots__ = (
        "demand",
        "expires_at",
        "give_back",
        "key",
        "low",
        "rate",
        "refill",
        "retry_at",
        "sampled_at",
        "tokens",
        "waiting",
    )

    def __init__(self, key: bytes, now: float) -> None:
        self.key = key  # the packed Redis key
        self.tokens = 0
        self.expires_at = math.inf
        self.give_back = 0
        self.low = 0  # refill below this many tokens (half the last lease)
        self.demand = 0  # units asked for since the last request
        self.waiting = 0  # units of the decisions waiting for a refill now
        self.sampled_at = now
        self.rate = math.nan  # smoothed demand per second; unknown before the second request
        self.retry_at = -math.inf  # the shared bucket was empty: no request before this
        self.refill: asyncio.Task[None] | None = None


@final
class RedisLeaseBucket(_SharedBucket):
    """A Redis token bucket that replicas draw from in leases, deciding locally between them.

    Use it for a shared limit that sees many decisions per second per replica (a global API
    quota, a downstream's capacity): where :class:`~seawall.limit.RedisTokenBucket` makes one round
    trip per decision, a busy replica here makes one per lease, a tenth or less (see
    ``bench/limiters.py``), while the replicas together still admit ``rate * T + burst``. For low
    per-key rates (per-client limits with a few requests per key and minute) prefer
    ``RedisTokenBucket``: a lease held by one replica is invisible to the others until it expires.

    The shared state is a token bucket computed in Redis on Redis's clock, as in
    ``RedisTokenBucket`` (starts full, continuous refill). Semantics of a lease (size, refill,
    expiry, waiting) are in this module's docstring; failure handling is the one-round-trip
    limiters' (local share ``rate / replicas``, probing with backoff, never raising).

    Args:
        client: a ``redis.asyncio.Redis`` client (owned by the caller).
        key: the Redis key holding the shared bucket.
        rate: tokens added per second, across all replicas (> 0).
        burst: capacity of the shared bucket (>= 1).
        replicas: how many replicas share the limit; sizes the default ``max_lease`` and the local
            fallback.
        horizon: seconds of this replica's recent demand a lease is sized for (> 0).
        min_lease: the smallest lease asked for (>= 1).
        max_lease: the largest lease asked for (``min_lease`` .. ``burst``); by default
            ``max(min_lease, burst // replicas)``.
        ttl: seconds after which unused leased tokens are given back (>= ``horizon``).
        timeout: seconds a lease request's round trip may take before falling back (> 0).
        connect_timeout: seconds opening the limiter's connection may take (> 0).
        clock: the time source for lease sizing and expiry, the local fallback and probing.
        probe_interval: first delay before probing a failed Redis; doubles on each failure.
        probe_max_interval: the longest delay between probes.

    Example::

        quota = RedisLeaseBucket(client=redis.asyncio.Redis(), key="rl:search", rate=1000, burst=100,
                                 replicas=3)
        await quota.prepare()
        if not await quota.try_acquire():
            raise RateLimited(retry_after=quota.retry_after())
        ...
        await quota.aclose()  # gives unused tokens back
    """

    __slots__ = (
        "_horizon",
        "_leased",
        "_leases",
        "_max_lease",
        "_min_lease",
        "_returned",
        "_round_trips",
        "_ttl",
    )

    def __init__(
        self,
        *,
        client: Redis,
        key: str,
        rate: float,
        burst: int,
        replicas: int = 1,
        horizon: float = 0.1,
        min_lease: int = 1,
        max_lease: int | None = None,
        ttl: float = 1.0,
        timeout: float = 0.05,
        connect_timeout: float = 1.0,
        clock: Clock = MONOTONIC,
        probe_interval: float = 0.1,
        probe_max_interval: float = 5.0,
    ) -> None:
        super().__init__(  # validates rate, burst, replicas and the Redis settings first
            rate=rate,
            burst=burst,
            client=client,
            key=key,
            script=_LEASE_LUA,
            arguments=4,
            replicas=replicas,
            timeout=timeout,
            connect_timeout=connect_timeout,
            clock=clock,
            probe_interval=probe_interval,
            probe_max_interval=probe_max_interval,
        )
        if not horizon > 0 or math.isinf(horizon):
            raise ValueError("horizon must be > 0 and finite")
        if min_lease < 1:
            raise ValueError("min_lease must be >= 1")
        if max_lease is None:
            max_lease = max(min_lease, burst // replicas)
        if not min_lease <= max_lease <= burst:
            raise ValueError("max_lease must be >= min_lease and <= burst")
        if not ttl >= horizon or math.isinf(ttl):
            raise ValueError("ttl must be >= horizon and finite")
        self._horizon = float(horizon)
        self._min_lease = int(min_lease)
        self._max_lease = int(max_lease)
        self._ttl = float(ttl)
        self._leases: OrderedDict[str, _Lease] = OrderedDict()
        self._round_trips = 0
        self._leased = 0
        self._returned = 0

    # -- the decision --------------------------------------------------------------------------

    async def decide(self, n: int = 1, *, key_suffix: str = "") -> RedisDecision:
        """Admit ``n`` units from this replica's lease, or refuse.

        Answers at once while the lease holds ``n`` tokens (starting a refill in the background
        when it runs below half); otherwise waits for a refill (at most two, each bounded by
        ``timeout``) unless the shared bucket was found empty, in which case it refuses at once
        with the time until it may have refilled as ``retry_after``.

        Args:
            n: units to take (>= 1); more than ``burst`` is always refused.
            key_suffix: selects a separate shared bucket, ``f"{key}:{key_suffix}"``.

        Never raises for Redis failures: they switch the limiter to its local fallback.
        """
        if n < 1:
            raise ValueError("n must be >= 1")
        if n > self._burst:
            return self._record(admitted=False, wait=math.inf)
        if self._remote():
            lease = self._lease_for(key_suffix)
            lease.demand += n
            waits = 0
            while True:
                now = self._clock.now()
                if now >= lease.expires_at:
                    self._expire(lease)
                if lease.tokens >= n:
                    lease.tokens -= n
                    if lease.tokens < lease.low and lease.refill is None and now >= lease.retry_at:
                        self._start_refill(lease)
                    self._remote_decisions += 1
                    return self._record(admitted=True, wait=0.0)
                if waits == _MAX_WAITS:
                    break
                if lease.refill is None:
                    if now < lease.retry_at:
                        break  # the shared bucket is empty: no round trip can help yet
                    self._start_refill(lease)
                refill = lease.refill
                assert refill is not None
                lease.waiting += n
                try:
                    # Shielded: a caller that gives up must not cancel the refill others wait for.
                    await asyncio.shield(refill)
                finally:
                    lease.waiting -= n
                waits += 1
                if not self._remote():
                    break  # the refill failed: the fallback decides
            if self._remote():
                self._remote_decisions += 1
                wait = max(lease.retry_at - self._clock.now(), n / self._rate)
                return self._record(admitted=False, wait=wait)
        local = self._local_for(key_suffix)
        self._local_decisions += 1
        if local.try_acquire(n):
            return self._record(admitted=True, wait=0.0)
        return self._record(admitted=False, wait=local.retry_after(n))

    def _remote(self) -> bool:
        return self._mode == "redis"

    def _lease_for(self, key_suffix: str) -> _Lease:
        lease = self._leases.get(key_suffix)
        if lease is None:
            key = _bulk(f"{self._key}:{key_suffix}".encode()) if key_suffix else self._key_bytes
            lease = self._leases[key_suffix] = _Lease(key, self._clock.now())
            if len(self._leases) > _MAX_LOCAL_KEYS:
                # The oldest key's tokens are dropped with it (the safe side).
                self._leases.popitem(last=False)
        else:
            self._leases.move_to_end(key_suffix)
        return lease

    def _expire(self, lease: _Lease) -> None:
        lease.give_back += lease.tokens
        lease.tokens = 0
        lease.expires_at = math.inf

    def _want(self, lease: _Lease, now: float) -> int:
        """The next lease's size: ``horizon`` seconds of the smoothed demand, and at least what
        the decisions waiting right now need, within the bounds."""
        elapsed = now - lease.sampled_at
        if elapsed > 0:
            sample = lease.demand / elapsed
            lease.rate = sample if math.isnan(lease.rate) else (lease.rate + sample) / 2
            lease.demand = 0
            lease.sampled_at = now
        # Before the second request nothing is measured: the first lease is min_lease (or what
        # is waiting), and a burst of first decisions is covered by the next one.
        sized = 0 if math.isnan(lease.rate) else math.ceil(lease.rate * self._horizon)
        want = min(self._max_lease, max(self._min_lease, sized, lease.waiting))
        # A decision for more than max_lease units must still be satisfiable (up to the burst).
        return max(want, min(self._burst, lease.waiting - lease.tokens))

    def _start_refill(self, lease: _Lease) -> None:
        lease.refill = asyncio.get_running_loop().create_task(self._refill(lease))

    async def _refill(self, lease: _Lease) -> None:
        """One lease request: give back what expired, take up to the wanted size."""
        try:
            started = self._clock.now()
            want = self._want(lease, started)
            give_back, lease.give_back = lease.give_back, 0
            arguments = self._rate_burst + _bulk(b"%d" % give_back) + _bulk(b"%d" % want)
            self._round_trips += 1
            try:
                reply = await self._run(lease.key + arguments)
            except TimeoutError:
                self._timeouts += 1
                self._drop_leases()
                self._fall_back()
                return
            except _REDIS_FAILURES:
                self._errors += 1
                self._drop_leases()
                self._fall_back()
                return
            granted, left = int(reply[0]), float(reply[1])
            self._returned += give_back
            self._leased += granted
            now = self._clock.now()
            if granted:
                lease.tokens += granted
                lease.expires_at = started + self._ttl  # from the request: never later than Redis
            lease.low = math.ceil(want / 2)
            if granted < want:
                # The shared bucket ran dry: wait until it may hold half a lease again.
                lease.retry_at = now + max(0.0, (max(1.0, want / 2) - left) / self._rate)
        finally:
            lease.refill = None

    def _drop_leases(self) -> None:
        for lease in self._leases.values():
            lease.tokens = 0
            lease.give_back = 0
            lease.expires_at = math.inf

    async def aclose(self) -> None:
        """Give unused leased tokens back to the shared bucket, then stop probing and release the
        connection (the client stays open). Never raises for Redis failures."""
        if self._mode == "redis":
            for lease in list(self._leases.values()):
                if lease.refill is not None:
                    await asyncio.wait([lease.refill])
                back = lease.tokens + lease.give_back
                if not back:
                    continue
                lease.tokens = lease.give_back = 0
                arguments = self._rate_burst + _bulk(b"%d" % back) + _bulk(b"0")
                try:
                    await self._run(lease.key + arguments)
                except _REDIS_FAILURES:
                    break
                self._round_trips += 1
                self._returned += back
        await super().aclose()

    def statistics(self) -> RedisLeaseStatistics:
        """A frozen snapshot; reading it changes nothing."""
        base = super().statistics()
        return RedisLeaseStatistics(
            **{field.name: getattr(base, field.name) for field in dataclasses.fields(base)},
            round_trips=self._round_trips,
            leased=self._leased,
            returned=self._returned,
            held=sum(lease.tokens for lease in self._leases.values()),
        )

    def __repr__(self) -> str:
        return (
            f"RedisLeaseBucket(key={self._key!r}, rate={self._rate!r}, burst={self._burst!r}, "
            f"replicas={self._replicas!r}, horizon={self._horizon!r}, mode={self._mode!r})"
        )
