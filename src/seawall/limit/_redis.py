"""Distributed rate limits shared by every replica through Redis, with a local fallback.

Each decision is one round trip: an ``EVALSHA`` of a small Lua script that reads the state, takes
the time from Redis itself (``redis.call('TIME')``, so the replicas' clocks never matter), decides,
writes the new state and sets ``PEXPIRE`` so idle keys vanish. On ``NOSCRIPT`` (a restarted or
flushed server) the script is sent once with ``EVAL``, which also caches it again.

When Redis fails, or answers more slowly than ``timeout`` (50 ms by default), the limiter switches
at once to a local limiter that holds this replica's share of the limit (``rate / replicas``),
so callers never see a Redis exception and never wait on Redis much longer than ``timeout``
per round trip (see below for connection setup and stalls). One background
task per limiter then probes Redis (``SCRIPT LOAD``, which also re-caches the script) with
exponential backoff, sleeping on the injected clock, and switches back when it answers in time.
``statistics()`` reports the mode and counts the fallbacks so metrics can export them.

A decision that timed out may still have been applied in Redis (the tokens are spent there but
the caller was decided locally); the error is bounded by one decision per timeout.

``timeout`` bounds the round trip only. Taking a connection from the client's pool, which opens
one when none is idle (a cold start, a burst wider than any before, after Redis restarted), is
bounded separately by ``connect_timeout`` (1 s by default): a connect storm on a healthy Redis
must not pass for an outage, which would send every replica to its local share at once. Call
:meth:`prepare` at startup, before the service reports ready, to open connections and load the
script while nobody waits on them.

A timeout is only evidence against Redis if the timer fired on time. When it fires more than
half a ``timeout`` late, this process's own event loop was frozen (a GC pause, CPU throttling
under a container limit, a long synchronous handler) and Redis most likely answered meanwhile:
the decision is asked again once (counted in ``stalls``) instead of sending the limiter to its
local fallback. The window limiter re-sends the same member, so a first attempt that was applied
in Redis is replaced rather than counted twice; the token bucket may take a token twice (the
error is on the safe side).

Give the limiters a client without retries of its own, e.g.
``redis.asyncio.Redis(..., retry=Retry(NoBackoff(), 0))``: redis-py >= 6 retries connection
errors three times with backoff by default, so the first decision of an outage would wait the
whole ``timeout`` instead of falling back at once (it is bounded by ``timeout`` either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import inspect
import math
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, cast, final

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError, ResponseError

from seawall._clock import MONOTONIC, Clock
from seawall.limit._base import RateLimiter
from seawall.limit._sliding_window import SlidingWindow
from seawall.limit._token_bucket import TokenBucket

__all__ = ["RedisDecision", "RedisLimiterStatistics", "RedisTokenBucket", "RedisWindowLimiter"]

# What a failing Redis (or the network to it) raises through redis-py's asyncio client.
_REDIS_FAILURES: Final = (RedisError, OSError, EOFError, TimeoutError)

#: Local limiters kept for distinct ``key_suffix`` values while in fallback mode (oldest dropped).
_MAX_LOCAL_KEYS: Final = 10_000

# Token bucket state is a hash {tokens, ts}; ts is Redis time in microseconds (< 2**53, exact
# in a Lua double). The key expires when the bucket would be full again, which is exactly when a
# missing key (read as a full bucket) means the same thing.
# Numbers go to redis.call as numbers (Redis writes them with full precision); tostring() would
# round to 14 digits, too few for microsecond timestamps. Replies carry floats as strings because
# Redis truncates Lua numbers in replies to integers.
# ARGV: rate (tokens/s), burst, n.  Returns {admitted 0|1, tokens left, seconds to wait}.
_BUCKET_LUA: Final = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate / 1000000)
local admitted = 0
local wait = 0
if tokens >= n then
  tokens = tokens - n
  admitted = 1
else
  wait = (n - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1)
return {admitted, tostring(tokens), tostring(wait)}
"""

# Exact moving window: a sorted set of admitted units scored by Redis time in microseconds. A
# unit admitted at s counts while now - s < window. Members are unique per call (ARGV[4] is a
# per-limiter random id plus a counter), suffixed by the unit's index when n > 1.
# ARGV: limit, window (microseconds), n, id.  Returns {admitted 0|1, units in window, wait}.
_WINDOW_LUA: Final = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count + n <= limit then
  local args = {}
  for i = 1, n do
    args[#args + 1] = now
    args[#args + 1] = ARGV[4] .. ':' .. i
  end
  redis.call('ZADD', KEYS[1], unpack(args))
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1)
  return {1, count + n, '0'}
end
local rank = count + n - limit - 1
local oldest = redis.call('ZRANGE', KEYS[1], rank, rank, 'WITHSCORES')
local wait = 0
if oldest[2] then wait = (tonumber(oldest[2]) + window - now) / 1000000 end
return {0, count, tostring(wait)}
"""


class _LoopStalled(TimeoutError):
    """A round trip timed out only because this process's event loop ran late (CPU starved,
    throttled, paused by GC or by a long synchronous handler): the timer fired well after its
    deadline, by which time Redis had most likely answered. Not evidence of a Redis outage."""


def _sha1(script: str) -> str:
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


def _connection_getter(client: Redis) -> Callable[[], Awaitable[Any]]:
    """``client``'s pool's ``get_connection``, called as each redis-py version wants it."""
    try:
        get_connection = client.connection_pool.get_connection
    except AttributeError:
        raise TypeError("client must be a redis.asyncio.Redis with a connection pool") from None
    with contextlib.suppress(TypeError, ValueError):
        command_name = inspect.signature(get_connection).parameters.get("command_name")
        if command_name is not None and command_name.default is inspect.Parameter.empty:
            return functools.partial(get_connection, "EVALSHA")  # redis-py < 5.3 requires it
    return cast(Callable[[], Awaitable[Any]], get_connection)  # >= 5.3 warns when given one


@final
@dataclass(frozen=True, slots=True)
class RedisDecision:
    """One decision of a Redis limiter: admitted, or how many seconds until a retry may be."""

    admitted: bool
    retry_after: float


_ADMITTED: Final = RedisDecision(admitted=True, retry_after=0.0)


@dataclass(frozen=True, slots=True)
class RedisLimiterStatistics:
    """A snapshot of a :class:`RedisTokenBucket` or :class:`RedisWindowLimiter`."""

    #: ``"redis"`` while decisions go to Redis, ``"local"`` while the fallback decides.
    mode: Literal["redis", "local"]
    #: Calls to ``try_acquire`` that were admitted (either mode).
    admitted: int
    #: Calls to ``try_acquire`` that were refused (either mode).
    rejected: int
    #: Decisions Redis made.
    remote_decisions: int
    #: Decisions the local fallback made.
    local_decisions: int
    #: Switches from Redis to the local fallback.
    fallbacks: int
    #: Switches back from the local fallback to Redis.
    recoveries: int
    #: Redis calls abandoned because they took longer than ``timeout``.
    timeouts: int
    #: Decisions whose timeout fired more than half a ``timeout`` late because this process's
    #: event loop was stalled; each was asked again once instead of falling back.
    stalls: int
    #: Redis calls that failed with an error (connection refused, reset, script error...).
    errors: int
    #: Probes of Redis that failed while in fallback mode.
    failed_probes: int


class _RedisLimiter:
    """The fallback/probe state machine shared by both Redis limiters."""

    __slots__ = (
        "_admitted",
        "_backoff",
        "_client",
        "_clock",
        "_closed",
        "_connect_timeout",
        "_errors",
        "_failed_probes",
        "_fallbacks",
        "_get_connection",
        "_key",
        "_last_retry_after",
        "_local",
        "_local_decisions",
        "_mode",
        "_probe",
        "_probe_interval",
        "_probe_max_interval",
        "_recovered_at",
        "_recoveries",
        "_rejected",
        "_remote_decisions",
        "_replicas",
        "_script",
        "_sha",
        "_stalls",
        "_timeout",
        "_timeouts",
    )

    def __init__(
        self,
        *,
        client: Redis,
        key: str,
        script: str,
        replicas: int,
        timeout: float,
        connect_timeout: float,
        clock: Clock,
        probe_interval: float,
        probe_max_interval: float,
    ) -> None:
        if not key:
            raise ValueError("key must not be empty")
        if replicas < 1:
            raise ValueError("replicas must be >= 1")
        if not timeout > 0 or math.isinf(timeout):
            raise ValueError("timeout must be > 0 and finite")
        if not connect_timeout > 0 or math.isinf(connect_timeout):
            raise ValueError("connect_timeout must be > 0 and finite")
        if not probe_interval > 0 or math.isinf(probe_interval):
            raise ValueError("probe_interval must be > 0 and finite")
        if not probe_max_interval >= probe_interval or math.isinf(probe_max_interval):
            raise ValueError("probe_max_interval must be >= probe_interval and finite")
        self._client = client
        self._get_connection = _connection_getter(client)
        self._key = key
        self._script = script
        self._sha = _sha1(script)
        self._replicas = replicas
        self._timeout = float(timeout)
        self._connect_timeout = float(connect_timeout)
        self._clock = clock
        self._probe_interval = float(probe_interval)
        self._probe_max_interval = float(probe_max_interval)
        self._mode: Literal["redis", "local"] = "redis"
        self._local: OrderedDict[str, RateLimiter] = OrderedDict()
        self._probe: asyncio.Task[None] | None = None
        self._backoff = self._probe_interval
        self._recovered_at = -math.inf
        self._closed = False
        self._last_retry_after = 0.0
        self._admitted = 0
        self._rejected = 0
        self._remote_decisions = 0
        self._local_decisions = 0
        self._fallbacks = 0
        self._recoveries = 0
        self._timeouts = 0
        self._stalls = 0
        self._errors = 0
        self._failed_probes = 0

    # -- what the concrete limiters provide --------------------------------------------------

    def _capacity(self) -> int:
        raise NotImplementedError  # pragma: no cover

    def _args(self, n: int) -> tuple[str | int | float, ...]:
        raise NotImplementedError  # pragma: no cover

    def _new_local(self) -> RateLimiter:
        raise NotImplementedError  # pragma: no cover

    # -- the decision --------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """The Redis key prefix this limiter decides on."""
        return self._key

    @property
    def mode(self) -> Literal["redis", "local"]:
        """``"redis"`` or ``"local"`` (the fallback)."""
        return self._mode

    async def try_acquire(self, n: int = 1, *, key_suffix: str = "") -> bool:
        """Admit ``n`` units now or refuse (see :meth:`decide`, which also says how long to wait)."""
        return (await self.decide(n, key_suffix=key_suffix)).admitted

    async def decide(self, n: int = 1, *, key_suffix: str = "") -> RedisDecision:
        """Admit ``n`` units now or refuse, in one Redis round trip (or locally during an outage).

        The decision carries its own ``retry_after``, so concurrent callers never read each
        other's (as :meth:`retry_after` can).

        Args:
            n: units to take (>= 1); more than the limit's capacity is always refused.
            key_suffix: selects a separate limit under the same configuration, e.g. a client id;
                the Redis key is ``f"{key}:{key_suffix}"`` (just ``key`` when empty).

        Never raises for Redis failures: they switch the limiter to its local fallback.
        """
        if n < 1:
            raise ValueError("n must be >= 1")
        if n > self._capacity():
            return self._record(admitted=False, wait=math.inf)
        if self._mode == "redis":
            full_key = f"{self._key}:{key_suffix}" if key_suffix else self._key
            args = self._args(n)
            try:
                try:
                    reply = await self._evalsha(full_key, args)
                except _LoopStalled:
                    # Our event loop, not Redis, was late: ask again now that it runs.
                    self._stalls += 1
                    reply = await self._evalsha(full_key, args)
            except TimeoutError:
                self._timeouts += 1
                self._fall_back()
            except _REDIS_FAILURES:
                self._errors += 1
                self._fall_back()
            else:
                self._remote_decisions += 1
                return self._record(admitted=int(reply[0]) == 1, wait=float(reply[2]))
        local = self._local_for(key_suffix)
        self._local_decisions += 1
        if local.try_acquire(n):
            return self._record(admitted=True, wait=0.0)
        return self._record(admitted=False, wait=local.retry_after(n))

    async def _evalsha(self, key: str, args: tuple[str | int | float, ...]) -> list[Any]:
        try:
            reply = await self._call("EVALSHA", self._sha, 1, key, *args)
        except NoScriptError:
            # EVAL caches the script, so the next decision is a single EVALSHA again.
            reply = await self._call("EVAL", self._script, 1, key, *args)
        return cast(list[Any], reply)

    async def _call(self, *command: str | int | float) -> Any:
        """One command on a pooled connection: getting the connection (which may open one) is
        bounded by ``connect_timeout``, the round trip alone by ``timeout``.

        Raises ``TimeoutError`` (:class:`_LoopStalled` when the timer fired more than half a
        ``timeout`` late) or one of ``_REDIS_FAILURES``; an error reply (``NOSCRIPT``) is raised
        as its ``ResponseError`` and leaves the connection usable.
        """
        async with asyncio.timeout(self._connect_timeout):
            connection = await self._get_connection()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout) as deadline:
                await connection.send_command(*command)
                return await connection.read_response()
        except ResponseError:
            raise
        except TimeoutError:
            await connection.disconnect(nowait=True)
            deadline_at = deadline.when()
            if deadline_at is not None and loop.time() - deadline_at > self._timeout / 2:
                raise _LoopStalled from None
            raise
        except BaseException:
            # Cut off mid-command (timeout, cancellation, I/O error): a late reply would be read
            # by the next user of this connection, so it must not go back to the pool open.
            await connection.disconnect(nowait=True)
            raise
        finally:
            await self._client.connection_pool.release(connection)

    def _record(self, *, admitted: bool, wait: float) -> RedisDecision:
        if admitted:
            self._admitted += 1
            self._last_retry_after = 0.0
            return _ADMITTED
        self._rejected += 1
        self._last_retry_after = max(0.0, wait)
        return RedisDecision(admitted=False, retry_after=self._last_retry_after)

    def retry_after(self) -> float:
        """Seconds the most recent refusal said to wait: ``0.0`` after an admit (or before any call).

        A best estimate from the last decision of this limiter, whatever its ``key_suffix``;
        under concurrency another caller's decision may have replaced it.
        """
        return self._last_retry_after

    # -- fallback and probing ------------------------------------------------------------------

    def _local_for(self, key_suffix: str) -> RateLimiter:
        local = self._local.get(key_suffix)
        if local is None:
            local = self._local[key_suffix] = self._new_local()
            if len(self._local) > _MAX_LOCAL_KEYS:
                self._local.popitem(last=False)
        else:
            self._local.move_to_end(key_suffix)
        return local

    def _fall_back(self) -> None:
        if self._mode == "redis":
            self._mode = "local"
            self._fallbacks += 1
            # Flapping (failing again soon after recovering) keeps the longer backoff.
            if self._clock.now() - self._recovered_at > self._probe_max_interval:
                self._backoff = self._probe_interval
        if not self._closed and (self._probe is None or self._probe.done()):
            self._probe = asyncio.get_running_loop().create_task(
                self._probe_until_recovered(), name=f"seawall-redis-probe:{self._key}"
            )

    async def _probe_until_recovered(self) -> None:
        while True:
            await self._clock.sleep(self._backoff)
            try:
                await self._call("SCRIPT", "LOAD", self._script)
            except _REDIS_FAILURES:
                self._failed_probes += 1
                self._backoff = min(self._backoff * 2, self._probe_max_interval)
                continue
            self._backoff = min(self._backoff * 2, self._probe_max_interval)
            self._recovered_at = self._clock.now()
            self._mode = "redis"
            self._recoveries += 1
            return

    async def prepare(self, *, connections: int = 1) -> bool:
        """Open ``connections`` pooled connections and load the script, before traffic arrives.

        Call it at startup, before the service reports ready, so that the first decisions find
        connections open and the script cached instead of racing to set them up. Returns True
        when Redis is ready. When it fails, or a step takes longer than ``connect_timeout``, the
        limiter switches to its local fallback (and probes, as after any failure) and returns
        False: Redis failures never raise here either.

        Example::

            if not await bucket.prepare(connections=8):
                logger.warning("Redis unavailable at startup: limiting locally for now")
        """
        if connections < 1:
            raise ValueError("connections must be >= 1")
        pool = self._client.connection_pool
        opened: list[Any] = []
        try:
            try:
                for _ in range(connections):  # held at once, so each one is a distinct connection
                    async with asyncio.timeout(self._connect_timeout):
                        opened.append(await self._get_connection())
            finally:
                for connection in opened:
                    await pool.release(connection)
            async with asyncio.timeout(self._connect_timeout):
                await self._client.script_load(self._script)
        except TimeoutError:
            self._timeouts += 1
        except _REDIS_FAILURES:
            self._errors += 1
        else:
            return True
        self._fall_back()
        return False

    async def aclose(self) -> None:
        """Stop the background probe. The Redis client is the caller's and stays open."""
        self._closed = True
        probe, self._probe = self._probe, None
        if probe is not None and not probe.done():
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe

    def statistics(self) -> RedisLimiterStatistics:
        """A frozen snapshot; reading it changes nothing."""
        return RedisLimiterStatistics(
            mode=self._mode,
            admitted=self._admitted,
            rejected=self._rejected,
            remote_decisions=self._remote_decisions,
            local_decisions=self._local_decisions,
            fallbacks=self._fallbacks,
            recoveries=self._recoveries,
            timeouts=self._timeouts,
            stalls=self._stalls,
            errors=self._errors,
            failed_probes=self._failed_probes,
        )


@final
class RedisTokenBucket(_RedisLimiter):
    """A token bucket shared by every replica through Redis: ``rate`` per second, bursts of ``burst``.

    Use it when a limit must hold for a whole service, not per process (an API quota, a
    downstream's capacity). Semantics match :class:`~seawall.limit.TokenBucket` (starts full,
    continuous lazy refill, a refused call takes nothing), computed in Redis on Redis's clock.

    During a Redis outage each replica falls back to a local :class:`TokenBucket` with
    ``rate / replicas`` and ``max(1, burst // replicas)``, so the service as a whole stays near
    the limit if ``replicas`` is right.

    Args:
        client: a ``redis.asyncio.Redis`` client (owned by the caller).
        key: the Redis key holding the bucket (a hash; expires once the bucket is full again).
        rate: tokens added per second, across all replicas (> 0).
        burst: capacity of the shared bucket (>= 1).
        replicas: how many replicas share the limit; sizes the local fallback.
        timeout: seconds a decision's round trip to Redis may take before falling back (> 0).
        connect_timeout: seconds taking a pooled connection (opening one if none is idle) may
            take before falling back (> 0); not counted in ``timeout``.
        clock: the time source for the local fallback and the probe's backoff.
        probe_interval: first delay before probing a failed Redis; doubles on each failure.
        probe_max_interval: the longest delay between probes.

    Example::

        bucket = RedisTokenBucket(client=redis.asyncio.Redis(), key="rl:orders", rate=500, burst=50,
                                  replicas=4)
        if not await bucket.try_acquire(key_suffix=client_id):
            raise RateLimited(retry_after=bucket.retry_after())
        ...
        await bucket.aclose()
    """

    __slots__ = ("_burst", "_rate")

    def __init__(
        self,
        *,
        client: Redis,
        key: str,
        rate: float,
        burst: int,
        replicas: int = 1,
        timeout: float = 0.05,
        connect_timeout: float = 1.0,
        clock: Clock = MONOTONIC,
        probe_interval: float = 0.1,
        probe_max_interval: float = 5.0,
    ) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be > 0 and finite")
        if burst < 1:
            raise ValueError("burst must be >= 1")
        super().__init__(
            client=client,
            key=key,
            script=_BUCKET_LUA,
            replicas=replicas,
            timeout=timeout,
            connect_timeout=connect_timeout,
            clock=clock,
            probe_interval=probe_interval,
            probe_max_interval=probe_max_interval,
        )
        self._rate = float(rate)
        self._burst = int(burst)

    @property
    def rate(self) -> float:
        """Tokens added per second, across all replicas."""
        return self._rate

    @property
    def burst(self) -> int:
        """Capacity of the shared bucket."""
        return self._burst

    def _capacity(self) -> int:
        return self._burst

    def _args(self, n: int) -> tuple[str | int | float, ...]:
        return (self._rate, self._burst, n)

    def _new_local(self) -> RateLimiter:
        return TokenBucket(
            rate=self._rate / self._replicas, burst=max(1, self._burst // self._replicas), clock=self._clock
        )

    def __repr__(self) -> str:
        return (
            f"RedisTokenBucket(key={self._key!r}, rate={self._rate!r}, burst={self._burst!r}, "
            f"replicas={self._replicas!r}, mode={self._mode!r})"
        )


@final
class RedisWindowLimiter(_RedisLimiter):
    """At most ``limit`` units in any ``window`` seconds across every replica, through Redis.

    An exact moving window (not a bucketed approximation): Redis keeps a sorted set of the units
    admitted in the last ``window`` seconds, scored by Redis time, so no interval of length
    ``window`` ever admits more than ``limit``. Memory is one sorted-set member per admitted unit
    in the window (up to ``limit`` per key), so prefer :class:`RedisTokenBucket` for limits in
    the tens of thousands per window. This is the sliding log of ``limits``'
    ``MovingWindowRateLimiter`` (its Redis ``acquire_moving_window`` script).

    During a Redis outage each replica falls back to a local
    :class:`~seawall.limit.SlidingWindow` admitting ``max(1, limit // replicas)`` per window.

    Args:
        client: a ``redis.asyncio.Redis`` client (owned by the caller).
        key: the Redis key holding the window (a sorted set; expires ``window`` after the last
            admit).
        limit: most units admitted per window, across all replicas (>= 1).
        window: window length in seconds (>= 1 ms).
        replicas: how many replicas share the limit; sizes the local fallback.
        timeout: seconds a decision's round trip to Redis may take before falling back (> 0).
        connect_timeout: seconds taking a pooled connection (opening one if none is idle) may
            take before falling back (> 0); not counted in ``timeout``.
        clock: the time source for the local fallback and the probe's backoff.
        probe_interval: first delay before probing a failed Redis; doubles on each failure.
        probe_max_interval: the longest delay between probes.

    Example::

        per_minute = RedisWindowLimiter(client=client, key="rl:login", limit=5, window=60)
        if not await per_minute.try_acquire(key_suffix=username):
            raise RateLimited(retry_after=per_minute.retry_after())
    """

    __slots__ = ("_id", "_limit", "_seq", "_window", "_window_us")

    def __init__(
        self,
        *,
        client: Redis,
        key: str,
        limit: int,
        window: float,
        replicas: int = 1,
        timeout: float = 0.05,
        connect_timeout: float = 1.0,
        clock: Clock = MONOTONIC,
        probe_interval: float = 0.1,
        probe_max_interval: float = 5.0,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        if not window >= 0.001 or math.isinf(window):
            raise ValueError("window must be >= 0.001 seconds and finite")
        super().__init__(
            client=client,
            key=key,
            script=_WINDOW_LUA,
            replicas=replicas,
            timeout=timeout,
            connect_timeout=connect_timeout,
            clock=clock,
            probe_interval=probe_interval,
            probe_max_interval=probe_max_interval,
        )
        self._limit = int(limit)
        self._window = float(window)
        self._window_us = round(window * 1_000_000)
        # Members must be unique across replicas and within one microsecond.
        self._id = secrets.token_hex(8)
        self._seq = 0

    @property
    def limit(self) -> int:
        """Most units admitted per window, across all replicas."""
        return self._limit

    @property
    def window(self) -> float:
        """Window length in seconds."""
        return self._window

    def _capacity(self) -> int:
        return self._limit

    def _args(self, n: int) -> tuple[str | int | float, ...]:
        self._seq += 1
        return (self._limit, self._window_us, n, f"{self._id}:{self._seq}")

    def _new_local(self) -> RateLimiter:
        return SlidingWindow(
            limit=max(1, self._limit // self._replicas), window=self._window, clock=self._clock
        )

    def __repr__(self) -> str:
        return (
            f"RedisWindowLimiter(key={self._key!r}, limit={self._limit!r}, window={self._window!r}, "
            f"replicas={self._replicas!r}, mode={self._mode!r})"
        )
