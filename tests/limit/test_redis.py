"""Tests for seawall.limit's Redis limiters: the fallback/probe state machine on an in-memory fake,
then the real thing against a real ``redis-server``."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from seawall._clock import MONOTONIC
from seawall.limit._redis import RedisLimiterStatistics, RedisTokenBucket, RedisWindowLimiter
from seawall.testing import MockClock

# tests/ is not on sys.path until pytest's ``pythonpath`` includes the repo root.
if str(Path(__file__).resolve().parents[2]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.servers import RedisServer, ServerProcess, start_redis


class FakeRedis:
    """Just enough of ``redis.asyncio.Redis`` (and its connection pool) for the limiter, with
    switchable failures."""

    def __init__(self, clock: Any = MONOTONIC) -> None:
        self.clock = clock
        self.down = False  # every call raises ConnectionError (and new connections are refused)
        self.hang = False  # every call waits forever
        self.noscript = False  # the next EVALSHA answers NOSCRIPT
        self.probe_failures = 0  # SCRIPT LOADs that fail before the server "comes back"
        self.connect_delay = 0.0  # seconds (of real time) opening a new connection takes
        self.stalls = 0  # calls during which this process's event loop freezes (see FakeConnection)
        self.stall_seconds = 0.06
        self.reply: list[Any] = [1, b"0", b"0"]
        self.calls: list[tuple[str, str]] = []
        self.arguments: list[tuple[Any, ...]] = []
        self.probes: list[float] = []
        self.connection_pool = FakePool(self)

    async def _fail_if_broken(self) -> None:
        if self.stalls:
            # The event loop freezes right after the command went out (a GC pause, CPU throttling)
            # and Redis answers 1 ms later, during the freeze: the reply is there when the loop
            # resumes, but the decision's timer, long overdue, fires in the same iteration.
            self.stalls -= 1
            asyncio.get_running_loop().call_soon(time.sleep, self.stall_seconds)
            await asyncio.sleep(0.001)
        if self.hang:
            await asyncio.Event().wait()
        if self.down:
            raise RedisConnectionError("Connection refused")

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> list[Any]:
        self.calls.append(("evalsha", keys_and_args[0]))
        self.arguments.append(keys_and_args)
        await self._fail_if_broken()
        if self.noscript:
            self.noscript = False
            raise NoScriptError("No matching script.")
        return self.reply

    async def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> list[Any]:
        self.calls.append(("eval", keys_and_args[0]))
        await self._fail_if_broken()
        return self.reply

    async def script_load(self, script: str) -> str:
        self.probes.append(self.clock.now())
        if self.probe_failures:
            self.probe_failures -= 1
            raise RedisConnectionError("Connection refused")
        await self._fail_if_broken()
        return "sha"


def _parse(data: bytes) -> list[tuple[str, ...]]:
    """The commands in ``data`` (Redis protocol: arrays of bulk strings), as str tuples."""
    commands: list[tuple[str, ...]] = []
    lines = iter(data.split(b"\r\n"))
    for line in lines:
        if not line:
            continue
        assert line.startswith(b"*"), line
        command = []
        for _ in range(int(line[1:])):
            next(lines)  # $length
            command.append(next(lines).decode())
        commands.append(tuple(command))
    return commands


class FakeConnection:
    """One pooled connection: the commands sent on it run on the fake, in order, as their replies
    are read (Redis answers a connection's commands in the order it received them)."""

    def __init__(self, fake: FakeRedis) -> None:
        self.fake = fake
        self.sent: list[tuple[str, ...]] = []
        self.writes = 0
        self.arrived = asyncio.Event()
        self.disconnects = 0
        self.closed = False

    async def send_packed_command(self, command: list[bytes], check_health: bool = True) -> None:
        assert not check_health
        if self.fake.down or self.closed:
            raise RedisConnectionError("Connection refused")
        self.writes += 1
        self.sent.extend(_parse(b"".join(command)))
        self.arrived.set()

    async def read_response(self) -> Any:
        while not self.sent:
            if self.closed:
                raise RedisConnectionError("Connection closed by server.")
            self.arrived.clear()
            await self.arrived.wait()
        name, *args = self.sent.pop(0)
        if name == "EVALSHA":
            return await self.fake.evalsha(args[0], int(args[1]), *args[2:])
        if name == "EVAL":
            return await self.fake.eval(args[0], int(args[1]), *args[2:])
        assert (name, args[0]) == ("SCRIPT", "LOAD")
        return await self.fake.script_load(args[1])

    async def disconnect(self, nowait: bool = False) -> None:
        self.disconnects += 1
        self.closed = True
        self.arrived.set()


class FakePool:
    """A connection pool: reuses idle connections, opens new ones (taking ``connect_delay``)."""

    def __init__(self, fake: FakeRedis) -> None:
        self.fake = fake
        self.idle: list[FakeConnection] = []
        self.in_use: list[FakeConnection] = []
        self.opened = 0
        self.attempts = 0

    async def get_connection(self) -> FakeConnection:
        self.attempts += 1
        if self.idle:
            connection = self.idle.pop()
            connection.closed = False  # reconnected, as redis-py's pool does
        else:
            await asyncio.sleep(self.fake.connect_delay)
            if self.fake.down:
                raise RedisConnectionError("Connection refused")
            connection = FakeConnection(self.fake)
            self.opened += 1
        self.in_use.append(connection)
        return connection

    async def release(self, connection: FakeConnection) -> None:
        self.in_use.remove(connection)
        self.idle.append(connection)


def _bucket(client: Any, **kwargs: Any) -> RedisTokenBucket:
    options: dict[str, Any] = {"key": "k", "rate": 10, "burst": 10}
    options.update(kwargs)
    return RedisTokenBucket(client=client, **options)


# -- construction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0}, "rate must be > 0 and finite"),
        ({"rate": math.inf}, "rate must be > 0 and finite"),
        ({"burst": 0}, "burst must be >= 1"),
        ({"key": ""}, "key must not be empty"),
        ({"replicas": 0}, "replicas must be >= 1"),
        ({"timeout": 0}, "timeout must be > 0 and finite"),
        ({"connect_timeout": 0}, "connect_timeout must be > 0 and finite"),
        ({"connect_timeout": math.inf}, "connect_timeout must be > 0 and finite"),
        ({"probe_interval": 0}, "probe_interval must be > 0 and finite"),
        ({"probe_interval": 2, "probe_max_interval": 1}, "probe_max_interval must be >= probe_interval"),
    ],
)
def test_token_bucket_arguments_checked(kwargs: dict[str, Any], message: str) -> None:
    """Bad configuration fails at construction with a precise message."""
    with pytest.raises(ValueError, match=message):
        _bucket(FakeRedis(), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"limit": 0}, "limit must be >= 1"), ({"window": 0}, "window must be >= 0.001 seconds")],
)
def test_window_arguments_checked(kwargs: dict[str, Any], message: str) -> None:
    """Bad window configuration fails at construction with a precise message."""
    options: dict[str, Any] = {"key": "k", "limit": 10, "window": 1.0}
    options.update(kwargs)
    with pytest.raises(ValueError, match=message):
        RedisWindowLimiter(client=FakeRedis(), **options)


# -- the fallback/probe state machine (fake client) ---------------------------------------------


async def test_redis_decides_while_healthy() -> None:
    """A healthy Redis makes every decision: one EVALSHA each, on the suffixed key."""
    fake = FakeRedis()
    bucket = _bucket(fake)
    assert await bucket.try_acquire()
    fake.reply = [0, b"0", b"0.25"]
    assert not await bucket.try_acquire(key_suffix="alice")
    assert fake.calls == [("evalsha", "k"), ("evalsha", "k:alice")]
    assert bucket.retry_after() == 0.25
    stats = bucket.statistics()
    assert (stats.mode, stats.remote_decisions, stats.local_decisions) == ("redis", 2, 0)
    assert (stats.admitted, stats.rejected) == (1, 1)


async def test_noscript_sends_script_once() -> None:
    """NOSCRIPT (a restarted Redis) is answered by one EVAL in the same decision, not a fallback."""
    fake = FakeRedis()
    fake.noscript = True
    bucket = _bucket(fake)
    assert await bucket.try_acquire()
    assert fake.calls == [("evalsha", "k"), ("eval", "k")]
    assert bucket.statistics().fallbacks == 0


async def test_error_falls_back_at_once() -> None:
    """A Redis error never reaches the caller: that same call is decided locally."""
    fake = FakeRedis()
    fake.down = True
    bucket = _bucket(fake, clock=MockClock())
    assert await bucket.try_acquire()
    stats = bucket.statistics()
    assert (stats.mode, stats.fallbacks, stats.errors, stats.local_decisions) == ("local", 1, 1, 1)
    await bucket.aclose()


async def test_slow_redis_falls_back_after_timeout() -> None:
    """A decision slower than ``timeout`` is abandoned and decided locally."""
    fake = FakeRedis()
    fake.hang = True
    bucket = _bucket(fake, timeout=0.01, clock=MockClock())
    assert await asyncio.wait_for(bucket.try_acquire(), 1.0)
    stats = bucket.statistics()
    assert (stats.mode, stats.timeouts, stats.errors, stats.fallbacks) == ("local", 1, 0, 1)
    await bucket.aclose()


async def test_local_mode_does_not_call_redis() -> None:
    """After falling back, decisions stay local until the probe succeeds (no per-call retries)."""
    fake = FakeRedis()
    fake.down = True
    bucket = _bucket(fake, clock=MockClock())
    for _ in range(5):
        await bucket.try_acquire()
    assert fake.connection_pool.attempts == 1
    assert bucket.statistics().local_decisions == 5
    await bucket.aclose()


async def test_local_fallback_holds_this_replicas_share() -> None:
    """The fallback admits rate/replicas with burst//replicas, and says when to retry."""
    fake = FakeRedis()
    fake.down = True
    clock = MockClock()
    bucket = _bucket(fake, rate=40, burst=8, replicas=4, clock=clock)
    assert [await bucket.try_acquire() for _ in range(3)] == [True, True, False]
    assert bucket.retry_after() == pytest.approx(0.1)
    clock.jump(0.1)
    assert await bucket.try_acquire()
    await bucket.aclose()


async def test_window_fallback_holds_this_replicas_share() -> None:
    """The window limiter's fallback admits limit//replicas per window."""
    fake = FakeRedis()
    fake.down = True
    clock = MockClock()
    window = RedisWindowLimiter(client=fake, key="w", limit=9, window=1.0, replicas=3, clock=clock)
    assert [await window.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert 0 < window.retry_after() <= 1.0
    clock.jump(1.0)
    assert await window.try_acquire()
    await window.aclose()


async def test_fallback_keeps_one_local_limiter_per_suffix() -> None:
    """In fallback, each key_suffix has its own local limiter, as each has its own Redis key."""
    fake = FakeRedis()
    fake.down = True
    bucket = _bucket(fake, rate=1, burst=1, clock=MockClock())
    assert await bucket.try_acquire(key_suffix="a")
    assert not await bucket.try_acquire(key_suffix="a")
    assert await bucket.try_acquire(key_suffix="b")
    await bucket.aclose()


async def test_more_than_capacity_refused_without_redis() -> None:
    """Asking for more than the burst can never succeed: refused at once, retry_after is inf."""
    fake = FakeRedis()
    bucket = _bucket(fake, burst=5)
    assert not await bucket.try_acquire(6)
    assert bucket.retry_after() == math.inf
    assert fake.calls == []


async def test_n_must_be_positive() -> None:
    """try_acquire rejects n < 1 rather than minting tokens."""
    with pytest.raises(ValueError, match="n must be >= 1"):
        await _bucket(FakeRedis()).try_acquire(0)


async def test_connection_setup_is_not_charged_to_the_timeout() -> None:
    """Opening a connection slower than ``timeout`` (a connect storm) is not a Redis failure."""
    fake = FakeRedis()
    fake.connect_delay = 0.05
    bucket = _bucket(fake, timeout=0.01, connect_timeout=1.0, clock=MockClock())
    assert await bucket.try_acquire()
    stats = bucket.statistics()
    assert (stats.mode, stats.remote_decisions, stats.fallbacks) == ("redis", 1, 0)


async def test_connection_setup_is_bounded_by_connect_timeout() -> None:
    """A connection that cannot be had within ``connect_timeout`` falls back, counted as a timeout."""
    fake = FakeRedis()
    fake.connect_delay = 10.0
    bucket = _bucket(fake, timeout=0.01, connect_timeout=0.02, clock=MockClock())
    assert await asyncio.wait_for(bucket.try_acquire(), 1.0)
    stats = bucket.statistics()
    assert (stats.mode, stats.timeouts, stats.fallbacks) == ("local", 1, 1)
    await bucket.aclose()


async def test_connection_cut_off_mid_command_is_closed() -> None:
    """A round trip abandoned at ``timeout`` closes its connection before it returns to the pool."""
    fake = FakeRedis()
    fake.hang = True
    bucket = _bucket(fake, timeout=0.01, clock=MockClock())
    await bucket.try_acquire()
    await bucket.aclose()  # waits until the abandoned connection is back in the pool
    [connection] = fake.connection_pool.idle
    assert connection.disconnects == 1
    assert fake.connection_pool.in_use == []


async def test_error_reply_keeps_the_connection() -> None:
    """NOSCRIPT is an answer, not a broken connection: EVAL reuses it, nothing is closed."""
    fake = FakeRedis()
    fake.noscript = True
    bucket = _bucket(fake)
    assert await bucket.try_acquire()
    assert fake.connection_pool.opened == 1
    assert fake.connection_pool.in_use[0].disconnects == 0


async def test_event_loop_stall_gets_more_time_not_an_outage() -> None:
    """A timeout that fired long after its deadline (our loop was frozen) waits once more for the
    reply, which was there all along: no fallback, and the decision is not sent twice."""
    fake = FakeRedis()
    fake.stalls = 1
    bucket = _bucket(fake, timeout=0.02, clock=MockClock())
    assert await bucket.try_acquire()
    stats = bucket.statistics()
    assert (stats.mode, stats.stalls, stats.timeouts, stats.fallbacks) == ("redis", 1, 0, 0)
    assert (stats.remote_decisions, stats.local_decisions) == (1, 0)
    assert fake.calls == [("evalsha", "k")]


async def test_stall_then_silence_falls_back() -> None:
    """Stalled, then still no reply within one more timeout: decided locally, the limiter falls back."""
    fake = FakeRedis()
    fake.stalls = 1
    fake.hang = True
    bucket = _bucket(fake, timeout=0.02, clock=MockClock())
    assert await asyncio.wait_for(bucket.try_acquire(), 1.0)
    stats = bucket.statistics()
    assert (stats.mode, stats.stalls, stats.timeouts, stats.fallbacks) == ("local", 1, 1, 1)
    await bucket.aclose()


async def test_window_members_are_unique_per_decision() -> None:
    """Each window decision adds a member of its own, so concurrent units never overwrite each other."""
    fake = FakeRedis()
    window = RedisWindowLimiter(client=fake, key="w", limit=5, window=1.0, clock=MockClock())
    assert await window.try_acquire()
    assert await window.try_acquire()
    first, second = fake.arguments
    assert first[:4] == second[:4] == ("w", "5", "1000000", "1")
    assert first[4] != second[4]


async def test_concurrent_decisions_share_one_connection_and_write() -> None:
    """Decisions issued together are pipelined: one connection, one write for those of one turn."""
    fake = FakeRedis()
    bucket = _bucket(fake)
    assert await bucket.try_acquire()  # connects; a lone decision is written at once
    assert await asyncio.gather(*(bucket.try_acquire(key_suffix=str(i)) for i in range(10))) == [True] * 10
    pool = fake.connection_pool
    assert (pool.opened, pool.attempts) == (1, 1)
    assert pool.in_use[0].writes <= 3
    assert [key for _, key in fake.calls[1:]] == [f"k:{i}" for i in range(10)]


async def test_replies_reach_their_own_callers() -> None:
    """Pipelined replies are handed back in order: each caller gets the answer to its own command."""
    fake = FakeRedis()
    replies = iter([[1, b"0", b"0"], [0, b"0", b"0.5"], [1, b"0", b"0"], [0, b"0", b"1.5"]])
    original = fake.evalsha

    async def evalsha(sha: str, numkeys: int, *keys_and_args: Any) -> list[Any]:
        await original(sha, numkeys, *keys_and_args)
        return next(replies)

    fake.evalsha = evalsha  # type: ignore[method-assign]
    bucket = _bucket(fake)
    decisions = await asyncio.gather(*(bucket.decide() for _ in range(4)))
    assert [(d.admitted, d.retry_after) for d in decisions] == [
        (True, 0.0), (False, 0.5), (True, 0.0), (False, 1.5)
    ]  # fmt: skip


async def test_a_cancelled_caller_does_not_shift_the_replies() -> None:
    """A caller that gives up leaves its reply to be discarded; the next caller gets its own."""
    fake = FakeRedis()
    bucket = _bucket(fake)
    await bucket.try_acquire()
    first = asyncio.ensure_future(bucket.decide(key_suffix="gone"))
    second = asyncio.ensure_future(bucket.decide(key_suffix="kept"))
    await asyncio.sleep(0)
    first.cancel()
    fake.reply = [0, b"0", b"2.5"]
    assert (await second).retry_after == 2.5
    assert fake.calls[-2:] == [("evalsha", "k:gone"), ("evalsha", "k:kept")]


async def test_lost_connection_fails_every_waiter_then_reconnects() -> None:
    """A connection that breaks under pipelined calls fails each (decided locally), and the
    probe's recovery opens a new one."""
    clock = MockClock()
    fake = FakeRedis(clock)
    bucket = _bucket(fake, clock=clock, probe_interval=0.125)
    await bucket.try_acquire()
    fake.down = True
    results = await asyncio.gather(*(bucket.try_acquire() for _ in range(5)))
    assert results == [True] * 5  # the local share (burst 10) admits them
    stats = bucket.statistics()
    assert (stats.mode, stats.fallbacks, stats.local_decisions) == ("local", 1, 5)
    fake.down = False
    await _advance(clock, 0.25)
    assert bucket.mode == "redis"
    assert await bucket.try_acquire()
    assert bucket.statistics().remote_decisions == 2
    await bucket.aclose()


async def test_prepare_opens_the_connection_and_loads_the_script() -> None:
    """prepare() opens the limiter's connection and loads the script; decisions then reuse both."""
    fake = FakeRedis()
    bucket = _bucket(fake)
    assert await bucket.prepare(connections=3) is True
    pool = fake.connection_pool
    assert (pool.opened, len(pool.in_use)) == (1, 1)
    assert len(fake.probes) == 1  # one SCRIPT LOAD
    assert await asyncio.gather(*(bucket.try_acquire() for _ in range(3))) == [True] * 3
    assert pool.opened == 1  # the first decisions found the connection open
    await bucket.aclose()
    assert (len(pool.idle), pool.in_use) == (1, [])  # given back to the client's pool


async def test_prepare_falls_back_when_redis_is_down() -> None:
    """prepare() never raises for Redis failures: it falls back, starts probing and returns False."""
    fake = FakeRedis()
    fake.down = True
    bucket = _bucket(fake, clock=MockClock())
    assert await bucket.prepare() is False
    stats = bucket.statistics()
    assert (stats.mode, stats.fallbacks, stats.errors) == ("local", 1, 1)
    assert any(t.get_name().startswith("seawall-redis-probe") for t in asyncio.all_tasks())
    assert fake.connection_pool.in_use == []
    await bucket.aclose()


async def test_prepare_gives_up_after_connect_timeout() -> None:
    """A Redis that does not answer makes prepare() return False after ``connect_timeout``."""
    fake = FakeRedis()
    fake.hang = True
    bucket = _bucket(fake, connect_timeout=0.02, clock=MockClock())
    assert await asyncio.wait_for(bucket.prepare(), 1.0) is False
    stats = bucket.statistics()
    assert (stats.mode, stats.timeouts, stats.errors, stats.fallbacks) == ("local", 1, 0, 1)
    await bucket.aclose()


async def test_prepare_checks_its_argument() -> None:
    """prepare(connections=0) is a ValueError."""
    with pytest.raises(ValueError, match="connections must be >= 1"):
        await _bucket(FakeRedis()).prepare(connections=0)


def test_client_without_a_pool_is_refused() -> None:
    """A client without a connection pool (e.g. a cluster client) is refused at construction."""
    with pytest.raises(TypeError, match="connection pool"):
        RedisTokenBucket(client=object(), key="k", rate=1, burst=1)  # type: ignore[arg-type]


async def test_old_redis_py_pool_gets_a_command_name() -> None:
    """redis-py < 5.3 requires ``get_connection(command_name)``; it is given one."""
    fake = FakeRedis()
    names: list[str] = []
    pool = fake.connection_pool
    plain = pool.get_connection

    async def get_connection(command_name: str, *keys: Any, **options: Any) -> FakeConnection:
        names.append(command_name)
        return await plain()

    pool.get_connection = get_connection  # type: ignore[method-assign]
    assert await _bucket(fake).try_acquire()
    assert names == ["EVALSHA"]


async def _advance(clock: MockClock, seconds: float, step: float = 0.125) -> None:
    """Move ``clock`` forward in steps, letting woken tasks run after each (binary-exact steps)."""
    for _ in range(10):  # let just-created tasks (the probe) start sleeping first
        await asyncio.sleep(0)
    for _ in range(round(seconds / step)):
        clock.jump(step)
        for _ in range(10):
            await asyncio.sleep(0)


async def test_probe_backs_off_then_switches_back() -> None:
    """The probe waits 1x, 2x, 4x... probe_interval on the injected clock, capped, until Redis answers."""
    clock = MockClock()
    fake = FakeRedis(clock)
    fake.down = True
    fake.probe_failures = 4
    bucket = _bucket(fake, clock=clock, probe_interval=0.125, probe_max_interval=0.5)
    await bucket.try_acquire()
    fake.down = False
    await _advance(clock, 3)
    assert fake.probes == [0.125, 0.375, 0.875, 1.375, 1.875]
    stats = bucket.statistics()
    assert (stats.mode, stats.recoveries, stats.failed_probes) == ("redis", 1, 4)
    assert await bucket.try_acquire()
    assert bucket.statistics().remote_decisions == 1


async def test_at_most_one_probe() -> None:
    """Many concurrent failures start one probe task, not one each."""
    fake = FakeRedis()
    fake.down = True
    bucket = _bucket(fake, clock=MockClock())
    await asyncio.gather(*(bucket.try_acquire() for _ in range(20)))
    probes = [t for t in asyncio.all_tasks() if t.get_name().startswith("seawall-redis-probe")]
    assert len(probes) == 1
    assert bucket.statistics().fallbacks == 1
    await bucket.aclose()
    assert probes[0].cancelled()


async def test_flapping_keeps_longer_backoff() -> None:
    """Failing again soon after recovering does not restart the probe at the shortest delay."""
    clock = MockClock()
    fake = FakeRedis(clock)
    fake.down = True
    bucket = _bucket(fake, clock=clock, probe_interval=0.125, probe_max_interval=4.0)
    await bucket.try_acquire()
    fake.down = False
    await _advance(clock, 1)  # recovers at 0.125
    fake.down = True
    await bucket.try_acquire()  # fails again at 1.0
    fake.down = False
    await _advance(clock, 1)
    assert fake.probes == [0.125, 1.25]
    assert bucket.statistics().fallbacks == 2
    await _advance(clock, 5)  # long healthy: the next outage starts over at probe_interval
    fake.down = True
    await bucket.try_acquire()  # at 7.0
    fake.down = False
    await _advance(clock, 1)
    assert fake.probes == [0.125, 1.25, 7.125]


async def test_aclose_without_probe_is_harmless() -> None:
    """aclose() on a limiter that never fell back does nothing, twice."""
    bucket = _bucket(FakeRedis())
    await bucket.aclose()
    await bucket.aclose()


def test_statistics_are_frozen() -> None:
    """statistics() returns an immutable snapshot."""
    stats = _bucket(FakeRedis()).statistics()
    assert isinstance(stats, RedisLimiterStatistics)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.admitted = 1


def test_repr_names_configuration() -> None:
    """repr shows the key, the limit and the mode."""
    assert repr(_bucket(FakeRedis())) == (
        "RedisTokenBucket(key='k', rate=10.0, burst=10, replicas=1, mode='redis')"
    )
    window = RedisWindowLimiter(client=FakeRedis(), key="w", limit=3, window=2)
    assert repr(window) == "RedisWindowLimiter(key='w', limit=3, window=2.0, replicas=1, mode='redis')"


# -- tests/servers.py ---------------------------------------------------------------------------


class _MissingServer(ServerProcess):
    binary = "seawall-no-such-server-binary"


def test_missing_binary_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CI, a missing server binary skips the test and says why."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="CI environment variable is unset"):
        _MissingServer()


def test_missing_binary_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CI set, a missing server binary fails instead of silently skipping."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        _MissingServer()


@pytest.mark.integration
def test_server_restarts_on_same_port(redis_server: RedisServer) -> None:
    """stop() makes the port refuse connections; restart() serves again on the same port."""
    port = redis_server.port
    redis_server.stop(kill=True)
    with pytest.raises(ConnectionRefusedError):
        redis_server.call("PING")
    redis_server.restart()
    assert redis_server.port == port
    assert redis_server.call("PING") == "+PONG"


# -- against a real redis-server ----------------------------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, for one test."""
    with start_redis() as server:
        yield server


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aredis.Redis]:
    """A redis-py asyncio client of ``redis_server`` with no retries of its own."""
    client = aredis.Redis(host=redis_server.host, port=redis_server.port, retry=Retry(NoBackoff(), 0))
    yield client
    await client.aclose()


# Commands the Lua scripts call inside Redis (counted by INFO commandstats, but not round trips).
_SCRIPT_COMMANDS = {"time", "hmget", "hset", "pexpire", "zremrangebyscore", "zcard", "zadd", "zrange"}


def _commandstats(server: RedisServer) -> dict[str, int]:
    calls = {}
    for line in server.call("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, fields = line[len("cmdstat_") :].split(":", 1)
            calls[name] = int(dict(f.split("=") for f in fields.split(","))["calls"])
    return calls


@pytest.mark.integration
async def test_real_token_bucket_bursts_then_refuses(client: aredis.Redis) -> None:
    """The shared bucket starts full, refuses once drained, and tells how long to wait."""
    bucket = RedisTokenBucket(client=client, key="tb", rate=10, burst=3)
    assert [await bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert 0.05 < bucket.retry_after() <= 0.1
    assert bucket.statistics().remote_decisions == 4


@pytest.mark.integration
async def test_real_token_bucket_uses_redis_time(client: aredis.Redis) -> None:
    """Refill follows Redis's clock: a limiter whose own clock is frozen still refills."""
    bucket = RedisTokenBucket(client=client, key="tb", rate=50, burst=1, clock=MockClock())
    assert await bucket.try_acquire()
    assert not await bucket.try_acquire()
    await asyncio.sleep(0.05)
    assert await bucket.try_acquire()


@pytest.mark.integration
async def test_real_token_bucket_key_expires_when_full(client: aredis.Redis) -> None:
    """The key's TTL is the time to refill, so an idle bucket's key vanishes."""
    bucket = RedisTokenBucket(client=client, key="tb", rate=20, burst=2)
    await bucket.try_acquire(2)
    assert 0 < await client.pttl("tb") <= 101
    await asyncio.sleep(0.15)
    assert await client.exists("tb") == 0


@pytest.mark.integration
async def test_real_window_is_exact_and_shared(client: aredis.Redis) -> None:
    """Two limiters on one key share an exact moving window, which expires after ``window``."""
    a = RedisWindowLimiter(client=client, key="w", limit=4, window=0.2)
    b = RedisWindowLimiter(client=client, key="w", limit=4, window=0.2)
    assert [await a.try_acquire(), await b.try_acquire(2), await a.try_acquire()] == [True] * 3
    assert not await b.try_acquire()
    assert 0 < b.retry_after() <= 0.2
    assert await client.zcard("w") == 4
    await asyncio.sleep(0.25)
    assert await b.try_acquire(4)
    await asyncio.sleep(0.25)
    assert await client.exists("w") == 0


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["bucket", "window"])
async def test_one_round_trip_per_decision(
    kind: str, client: aredis.Redis, redis_server: RedisServer
) -> None:
    """Each decision is exactly one EVALSHA and nothing else (INFO commandstats)."""
    if kind == "bucket":
        limiter: RedisTokenBucket | RedisWindowLimiter = RedisTokenBucket(
            client=client, key="rt", rate=1000, burst=50
        )
    else:
        limiter = RedisWindowLimiter(client=client, key="rt", limit=50, window=1.0)
    await limiter.try_acquire()  # the first call loads the script (NOSCRIPT, then EVAL)
    redis_server.call("CONFIG", "RESETSTAT")
    for i in range(200):
        await limiter.try_acquire(key_suffix=str(i % 3))
    # commandstats also counts the commands the script runs inside Redis; those are not round trips.
    top_level = set(_commandstats(redis_server)) - _SCRIPT_COMMANDS - {"config|resetstat"}
    assert top_level == {"evalsha"}
    assert _commandstats(redis_server)["evalsha"] == 200
    assert limiter.statistics().remote_decisions == 201


@pytest.mark.integration
async def test_real_prepare_warms_connections_and_the_script(
    client: aredis.Redis, redis_server: RedisServer
) -> None:
    """prepare() opens the limiter's connection and caches the script: the first decision is one
    EVALSHA."""
    bucket = RedisTokenBucket(client=client, key="warm", rate=100, burst=10)
    assert await bucket.prepare(connections=4) is True
    clients = dict(
        line.split(":", 1) for line in redis_server.call("INFO", "clients").splitlines() if ":" in line
    )
    assert int(clients["connected_clients"]) == 1 + 1  # and the connection asking INFO
    assert await client.script_exists(_sha1_of_bucket()) == [True]
    redis_server.call("CONFIG", "RESETSTAT")
    assert await bucket.try_acquire()
    top_level = set(_commandstats(redis_server)) - _SCRIPT_COMMANDS - {"config|resetstat", "info"}
    assert top_level == {"evalsha"}


@pytest.mark.integration
async def test_real_prepare_reports_a_missing_redis(redis_server: RedisServer) -> None:
    """With Redis stopped, prepare() returns False at once and the limiter decides locally."""
    redis_server.stop(kill=True)
    client = aredis.Redis(host=redis_server.host, port=redis_server.port, retry=Retry(NoBackoff(), 0))
    bucket = RedisTokenBucket(
        client=client, key="warm", rate=100, burst=10, probe_interval=10, probe_max_interval=10
    )
    try:
        assert await asyncio.wait_for(bucket.prepare(), 2.0) is False
        assert bucket.mode == "local"
        assert await bucket.try_acquire()
    finally:
        await bucket.aclose()
        await client.aclose()


def _sha1_of_bucket() -> str:
    from seawall.limit._redis import _BUCKET_LUA, _sha1

    return _sha1(_BUCKET_LUA)


@pytest.mark.integration
async def test_script_flush_is_survived(client: aredis.Redis) -> None:
    """After SCRIPT FLUSH (as after a restart) the next decision reloads the script, no fallback."""
    bucket = RedisTokenBucket(client=client, key="tb", rate=10, burst=5)
    assert await bucket.try_acquire()
    await client.script_flush()
    assert await bucket.try_acquire()
    assert bucket.statistics().fallbacks == 0
    assert bucket.statistics().remote_decisions == 2


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["bucket", "window"])
async def test_redis_killed_mid_run(kind: str, client: aredis.Redis, redis_server: RedisServer) -> None:
    """Killing Redis mid-run: no exception, fallback counted, local decisions, back after restart."""
    if kind == "bucket":
        limiter: RedisTokenBucket | RedisWindowLimiter = RedisTokenBucket(
            client=client, key="out", rate=1000, burst=100, replicas=2,
            probe_interval=0.02, probe_max_interval=0.1,
        )  # fmt: skip
    else:
        limiter = RedisWindowLimiter(
            client=client, key="out", limit=1000, window=1.0, replicas=2,
            probe_interval=0.02, probe_max_interval=0.1,
        )  # fmt: skip
    stop = asyncio.Event()
    slowest = 0.0

    async def decide_forever() -> None:
        nonlocal slowest
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            await limiter.try_acquire()
            slowest = max(slowest, loop.time() - started)
            await asyncio.sleep(0.001)

    runner = asyncio.create_task(decide_forever())
    await asyncio.sleep(0.2)
    assert limiter.statistics().remote_decisions > 0
    redis_server.stop(kill=True)
    await asyncio.sleep(0.3)
    during = limiter.statistics()
    assert during.mode == "local"
    assert during.fallbacks == 1
    assert during.local_decisions > 0
    assert during.failed_probes > 0
    await asyncio.to_thread(redis_server.start)
    for _ in range(200):
        if limiter.mode == "redis":
            break
        await asyncio.sleep(0.01)
    remote_before = limiter.statistics().remote_decisions
    await asyncio.sleep(0.2)
    stop.set()
    await runner  # re-raises anything that escaped try_acquire
    after = limiter.statistics()
    assert after.mode == "redis"
    assert after.recoveries == 1
    assert after.remote_decisions > remote_before
    assert slowest < 0.5  # bounded by the 50 ms timeout (plus event-loop noise), never a hang
    await limiter.aclose()


async def test_each_decision_carries_its_own_retry_after(client: aredis.Redis) -> None:
    """Two refusals with different waits do not read each other's Retry-After (a shared field raced)."""
    slow = RedisTokenBucket(client=client, key="rd:slow", rate=0.5, burst=1)
    fast = RedisTokenBucket(client=client, key="rd:fast", rate=100, burst=1)
    assert (await slow.decide()).admitted
    assert (await fast.decide()).admitted
    refused_slow, refused_fast = await slow.decide(), await fast.decide()
    assert not refused_slow.admitted
    assert not refused_fast.admitted
    assert refused_slow.retry_after > 1.0
    assert 0 < refused_fast.retry_after < 0.05
