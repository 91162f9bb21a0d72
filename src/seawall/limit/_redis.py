"""Distributed rate limits shared by every replica through Redis, with a local fallback.

Each decision is one round trip: an ``EVALSHA`` of a small Lua script that reads the state, takes
the time from Redis itself (``redis.call('TIME')``, so the replicas' clocks never matter), decides,
writes the new state and sets ``PEXPIRE`` so idle keys vanish. On ``NOSCRIPT`` (a restarted or
flushed server) the script is sent once with ``EVAL``, which also caches it again.

A limiter's decisions are pipelined on one connection it borrows from the client's pool (see
:class:`_Pipe`): concurrent decisions are written together and their replies read in order, so a
decision costs neither a trip through the pool nor a write of its own.

When Redis fails, or answers more slowly than ``timeout`` (50 ms by default), the limiter switches
at once to a local limiter that holds this replica's share of the limit (``rate / replicas``),
so callers never see a Redis exception and never wait on Redis much longer than ``timeout``
per round trip (see below for connection setup and stalls). One background
task per limiter then probes Redis (``SCRIPT LOAD``, which also re-caches the script) with
exponential backoff, sleeping on the injected clock, and switches back when it answers in time.
``statistics()`` reports the mode and counts the fallbacks so metrics can export them.

A decision that timed out may still have been applied in Redis (the tokens are spent there but
the caller was decided locally); the error is bounded by the decisions in flight per timeout.

``timeout`` bounds the round trip only (it is measured on the event loop's clock: it bounds real
waiting on the network, not modelled time). Opening the limiter's connection (a cold start, after
Redis restarted) is bounded separately by ``connect_timeout`` (1 s by default): a slow connect
on a healthy Redis must not pass for an outage, which would send every replica to its local
share at once. Call :meth:`prepare` at startup, before the service reports ready, to open the
connection and load the script while nobody waits on them.

A timeout is only evidence against Redis if the timer fired on time. When it fires more than
half a ``timeout`` late, this process's own event loop was frozen (a GC pause, CPU throttling
under a container limit, a long synchronous handler) and Redis most likely answered meanwhile:
the decisions in flight get one more ``timeout`` (counted in ``stalls``) instead of sending the
limiter to its local fallback. Nothing is sent twice.

Give the limiters a client without retries of its own, e.g.
``redis.asyncio.Redis(..., retry=Retry(NoBackoff(), 0))``: redis-py >= 6 retries connection
errors three times with backoff by default, so the first connection of an outage would be tried
again instead of falling back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import inspect
import math
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, cast, final

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
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
# The shared bucket's state, read and aged on Redis time: KEYS[1] is a hash {tokens, ts (us)};
# ARGV[1] rate (tokens/s), ARGV[2] burst. Leaves ``now``, ``rate``, ``burst``, ``tokens`` (not yet
# refilled) and ``elapsed`` (us since ts) for the script that follows (RedisLeaseBucket's too).
_BUCKET_STATE_LUA: Final = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
"""

# ARGV: rate (tokens/s), burst, n.  Returns {admitted 0|1, tokens left, seconds to wait}.
_BUCKET_LUA: Final = (
    _BUCKET_STATE_LUA
    + """local n = tonumber(ARGV[3])
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
)

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


# -- the connection: one per limiter, commands pipelined -------------------------------------------


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _encode(value: str | bytes | int | float) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return repr(value).encode()  # as redis-py writes numbers: full precision for floats


def _pack(*args: str | bytes | int | float) -> bytes:
    """One command in the Redis protocol (an array of bulk strings)."""
    return b"*%d\r\n%s" % (len(args), b"".join(_bulk(_encode(a)) for a in args))


class _Entry:
    """A command sent on the pipe and not answered yet."""

    __slots__ = ("deadline", "extended", "future")

    def __init__(self, future: asyncio.Future[Any], deadline: float) -> None:
        self.future = future
        self.deadline = deadline
        self.extended = False


@final
class _Pipe:
    """The limiter's commands, pipelined on one connection borrowed from the client's pool.

    Concurrent decisions do not each take a connection from the pool (redis-py's pool takes a lock,
    checks the socket and dispatches events on every get and release: most of a decision's CPU):
    they are written back to back on one connection, the ones issued in the same event-loop turn
    in one write, and one reader task hands the replies back in order (Redis answers a
    connection's commands in the order it received them). This is ioredis' auto-pipelining; each
    decision is still one ``EVALSHA``. ``bench/limiters.py --quick`` measured it at about 2.3x
    redis-py's own ``client.evalsha`` (a pooled connection per call) and 3x ``limits``' moving
    window with 32 concurrent callers, and about the same as both with one.

    A round trip is bounded by one timer per pipe, not one per call: it is armed for the oldest
    unanswered command's deadline and re-armed for the next one. When the oldest is overdue the
    connection is stuck (everything behind it waits for it), so every command on it fails with
    ``TimeoutError`` and the connection is closed and returned to the pool; the next call opens
    another. When the timer fires more than half a ``timeout`` late, this process's event loop was
    frozen (a GC pause, CPU throttling, a long synchronous handler) and the replies are most likely
    waiting in the socket: each unanswered command gets one more ``timeout`` (counted in
    ``stalls``) instead of failing.
    """

    __slots__ = (
        "_batch",
        "_connect_timeout",
        "_connecting",
        "_connection",
        "_discarding",
        "_get_connection",
        "_loop",
        "_pending",
        "_pool",
        "_reader",
        "_timeout",
        "_timer",
        "_timer_at",
        "stalls",
    )

    def __init__(self, client: Redis, *, timeout: float, connect_timeout: float) -> None:
        self._get_connection = _connection_getter(client)
        self._pool = client.connection_pool
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._connection: Any = None
        self._connecting: asyncio.Task[Any] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: deque[_Entry] = deque()
        self._batch: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._discarding: set[asyncio.Task[None]] = set()
        #: Timers that fired more than half a ``timeout`` late (this process's loop was frozen).
        self.stalls = 0

    async def call(self, command: bytes, limit: float | None = None) -> Any:
        """Send one packed command and return its reply.

        Raises ``TimeoutError`` after ``limit`` seconds (the pipe's ``timeout`` by default),
        ``ResponseError`` for an error reply (the connection stays usable), or one of
        ``_REDIS_FAILURES``.
        """
        while (connection := self._connection) is None:
            await self.connect()
        loop = cast(asyncio.AbstractEventLoop, self._loop)
        future = loop.create_future()
        deadline = loop.time() + (self._timeout if limit is None else limit)
        pending = self._pending
        pending.append(_Entry(future, deadline))
        if self._timer is None:
            self._arm(deadline)
        batch = self._batch
        batch.append(command)
        if len(batch) == 1:
            # The first command of a batch writes it. While replies are outstanding it yields once
            # first, so that the callers of this event-loop turn join the same write; a lone
            # caller writes at once. It writes even when cancelled: the batch holds others'
            # commands, already queued for replies.
            try:
                if len(pending) > 1:
                    await asyncio.sleep(0)
            finally:
                if self._batch is batch:
                    self._batch = []
                    await self._write(connection, batch)
        return await future

    async def _write(self, connection: Any, batch: list[bytes]) -> None:
        try:
            await connection.send_packed_command(batch, check_health=False)
        except _REDIS_FAILURES as exc:
            self._abort(connection, exc)

    async def connect(self) -> Any:
        """The pipe's connection, opened (one attempt shared by concurrent callers) if needed.

        Bounded by ``connect_timeout``; raises ``TimeoutError`` or one of ``_REDIS_FAILURES``.
        """
        if self._connection is not None:
            return self._connection
        connecting = self._connecting
        if connecting is None:
            connecting = self._connecting = asyncio.get_running_loop().create_task(self._open())
            connecting.add_done_callback(self._opened)
        # Shielded: a caller that gives up must not cancel the others' connection attempt.
        return await asyncio.shield(connecting)

    async def _open(self) -> Any:
        async with asyncio.timeout(self._connect_timeout):
            connection = await self._get_connection()
        loop = self._loop = asyncio.get_running_loop()
        self._connection = connection
        self._reader = loop.create_task(self._read(connection), name="seawall-redis-reader")
        return connection

    def _opened(self, task: asyncio.Task[Any]) -> None:
        self._connecting = None
        if not task.cancelled():
            task.exception()  # retrieved here: callers may all have given up

    async def _read(self, connection: Any) -> None:
        pending = self._pending
        try:
            while True:
                try:
                    reply = await connection.read_response()
                except ResponseError as error:
                    future = pending.popleft().future
                    if not future.done():
                        future.set_exception(error)
                    continue
                future = pending.popleft().future
                if not future.done():
                    future.set_result(reply)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - a reply nobody asked for is a broken connection
            self._abort(connection, exc)

    def _arm(self, when: float) -> None:
        loop = cast(asyncio.AbstractEventLoop, self._loop)
        self._timer_at = when
        self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        pending = self._pending
        if not pending:
            return
        now = cast(asyncio.AbstractEventLoop, self._loop).time()
        head = pending[0]
        if now < head.deadline:
            self._arm(head.deadline)
            return
        if now - self._timer_at > self._timeout / 2 and not head.extended:
            # Our loop, not Redis, was late: the reader has not had its turn yet.
            self.stalls += 1
            for entry in pending:
                if not entry.extended:
                    entry.extended = True
                    entry.deadline = max(entry.deadline, now + self._timeout)
            self._arm(head.deadline)
            return
        self._abort(self._connection, TimeoutError())

    def _abort(self, connection: Any, exc: BaseException) -> None:
        """Fail every unanswered command, close the connection and return it to the pool."""
        if connection is None or connection is not self._connection:
            return  # already aborted
        self._connection = None
        pending, self._pending = self._pending, deque()
        self._batch = []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        timed_out = isinstance(exc, TimeoutError)
        for entry in pending:
            if not entry.future.done():
                entry.future.set_exception(
                    TimeoutError() if timed_out else RedisConnectionError(f"Redis connection lost: {exc!r}")
                )
        discard = cast(asyncio.AbstractEventLoop, self._loop).create_task(self._discard(connection, reader))
        self._discarding.add(discard)
        discard.add_done_callback(self._discarding.discard)

    async def _discard(self, connection: Any, reader: asyncio.Task[None] | None) -> None:
        # A late reply must never reach the next user of this connection: closed, then released.
        if reader is not None:
            await asyncio.wait([reader])
        with contextlib.suppress(*_REDIS_FAILURES):
            await connection.disconnect(nowait=True)
        await self._pool.release(connection)

    async def aclose(self) -> None:
        """Fail what is unanswered and give the connection back to the client's pool."""
        connecting = self._connecting
        if connecting is not None:
            connecting.cancel()
            await asyncio.wait([connecting])
        if self._connection is not None:
            self._abort(self._connection, RedisConnectionError("limiter closed"))
        if self._discarding:
            await asyncio.wait(list(self._discarding))


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
    #: Times the round-trip timer fired more than half a ``timeout`` late because this process's
    #: event loop was stalled; the decisions in flight then got one more ``timeout`` instead of
    #: falling back.
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
        "_clock",
        "_closed",
        "_connect_timeout",
        "_errors",
        "_eval_head",
        "_evalsha_head",
        "_failed_probes",
        "_fallbacks",
        "_key",
        "_key_bytes",
        "_last_retry_after",
        "_local",
        "_local_decisions",
        "_mode",
        "_pipe",
        "_probe",
        "_probe_interval",
        "_probe_max_interval",
        "_recovered_at",
        "_recoveries",
        "_rejected",
        "_remote_decisions",
        "_replicas",
        "_script",
        "_timeout",
        "_timeouts",
    )

    def __init__(
        self,
        *,
        client: Redis,
        key: str,
        script: str,
        arguments: int,
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
        self._pipe = _Pipe(client, timeout=float(timeout), connect_timeout=float(connect_timeout))
        self._key = key
        self._key_bytes = _bulk(key.encode())
        self._script = script
        # Every decision is EVALSHA sha 1 key *arguments: all but the key and the arguments is
        # packed once here (the per-call part is a few bytes joins; see bench/limiters.py).
        count = b"*%d\r\n" % (4 + arguments)
        self._evalsha_head = count + _bulk(b"EVALSHA") + _bulk(_sha1(script).encode()) + _bulk(b"1")
        self._eval_head = count + _bulk(b"EVAL") + _bulk(script.encode()) + _bulk(b"1")
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
        self._errors = 0
        self._failed_probes = 0

    # -- what the concrete limiters provide --------------------------------------------------

    def _capacity(self) -> int:
        raise NotImplementedError  # pragma: no cover

    def _arguments(self, n: int) -> bytes:
        """The script's arguments for taking ``n``, packed (``_bulk`` each)."""
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
            key = _bulk(f"{self._key}:{key_suffix}".encode()) if key_suffix else self._key_bytes
            try:
                reply = await self._run(key + self._arguments(n))
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

    async def _run(self, key_and_arguments: bytes) -> list[Any]:
        """The script on one key: ``EVALSHA``, or ``EVAL`` (which caches it again) on NOSCRIPT."""
        try:
            reply = await self._pipe.call(self._evalsha_head + key_and_arguments)
        except NoScriptError:
            reply = await self._pipe.call(self._eval_head + key_and_arguments)
        return cast(list[Any], reply)

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
                await self._pipe.call(_pack("SCRIPT", "LOAD", self._script))
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
        """Open the limiter's connection and load the script, before traffic arrives.

        Call it at startup, before the service reports ready, so that the first decisions find
        the connection open and the script cached instead of racing to set them up. Returns True
        when Redis is ready. When it fails, or a step takes longer than ``connect_timeout``, the
        limiter switches to its local fallback (and probes, as after any failure) and returns
        False: Redis failures never raise here either.

        ``connections`` (>= 1) is accepted for compatibility: decisions are pipelined on one
        connection of the limiter's own, so that is the one opened.

        Example::

            if not await bucket.prepare():
                logger.warning("Redis unavailable at startup: limiting locally for now")
        """
        if connections < 1:
            raise ValueError("connections must be >= 1")
        try:
            await self._pipe.connect()
            await self._pipe.call(_pack("SCRIPT", "LOAD", self._script), limit=self._connect_timeout)
        except TimeoutError:
            self._timeouts += 1
        except _REDIS_FAILURES:
            self._errors += 1
        else:
            return True
        self._fall_back()
        return False

    async def aclose(self) -> None:
        """Stop the background probe and give the limiter's connection back to the client's pool.

        The Redis client is the caller's and stays open; a later decision opens a connection again.
        """
        self._closed = True
        probe, self._probe = self._probe, None
        if probe is not None and not probe.done():
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
        await self._pipe.aclose()

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
            stalls=self._pipe.stalls,
            errors=self._errors,
            failed_probes=self._failed_probes,
        )


class _SharedBucket(_RedisLimiter):
    """A token bucket shared through Redis (the hash ``_BUCKET_STATE_LUA`` reads): what
    :class:`RedisTokenBucket` and :class:`~seawall.limit.RedisLeaseBucket` have in common: ``rate``
    and ``burst``, their packed form, and the local fallback bucket during an outage."""

    __slots__ = ("_burst", "_rate", "_rate_burst")

    def __init__(self, *, rate: float, burst: int, **limiter: Any) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be > 0 and finite")
        if burst < 1:
            raise ValueError("burst must be >= 1")
        super().__init__(**limiter)
        self._rate = float(rate)
        self._burst = int(burst)
        self._rate_burst = _bulk(_encode(self._rate)) + _bulk(b"%d" % self._burst)

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

    def _new_local(self) -> RateLimiter:
        return TokenBucket(
            rate=self._rate / self._replicas, burst=max(1, self._burst // self._replicas), clock=self._clock
        )


@final
class RedisTokenBucket(_SharedBucket):
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

    __slots__ = ("_one",)

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
        super().__init__(
            rate=rate,
            burst=burst,
            client=client,
            key=key,
            script=_BUCKET_LUA,
            arguments=3,
            replicas=replicas,
            timeout=timeout,
            connect_timeout=connect_timeout,
            clock=clock,
            probe_interval=probe_interval,
            probe_max_interval=probe_max_interval,
        )
        self._one = self._rate_burst + _bulk(b"1")

    def _arguments(self, n: int) -> bytes:
        if n == 1:
            return self._one
        return self._rate_burst + _bulk(b"%d" % n)

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

    __slots__ = ("_id", "_limit", "_limit_window", "_seq", "_window", "_window_us")

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
            arguments=4,
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
        self._id = secrets.token_hex(8).encode()
        self._seq = 0
        self._limit_window = _bulk(b"%d" % self._limit) + _bulk(b"%d" % self._window_us)

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

    def _arguments(self, n: int) -> bytes:
        self._seq += 1
        return self._limit_window + _bulk(b"%d" % n) + _bulk(b"%s:%d" % (self._id, self._seq))

    def _new_local(self) -> RateLimiter:
        return SlidingWindow(
            limit=max(1, self._limit // self._replicas), window=self._window, clock=self._clock
        )

    def __repr__(self) -> str:
        return (
            f"RedisWindowLimiter(key={self._key!r}, limit={self._limit!r}, window={self._window!r}, "
            f"replicas={self._replicas!r}, mode={self._mode!r})"
        )
