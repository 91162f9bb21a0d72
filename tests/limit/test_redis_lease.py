"""Tests for seawall.limit's lease mode (RedisLeaseBucket): lease sizing, refill, expiry and
fallback on a fake server whose bucket runs on a MockClock (no sleeps), then against a real
``redis-server``."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aredis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from seawall.limit._redis import RedisLimiterStatistics
from seawall.limit._redis_lease import RedisLeaseBucket, RedisLeaseStatistics
from seawall.testing import MockClock

if str(Path(__file__).resolve().parents[2]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.servers import RedisServer, start_redis


class LeaseServer:
    """The lease script's shared bucket, on ``clock`` (standing for Redis's clock), behind just
    enough of ``redis.asyncio.Redis`` and its pool for the limiter."""

    def __init__(self, clock: MockClock, *, rate: float, burst: int) -> None:
        self.clock = clock
        self.rate = rate
        self.burst = burst
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, ts)
        self.requests: list[tuple[str, int, int]] = []  # (key, give_back, want) of each lease request
        self.down = False
        self.hold: asyncio.Event | None = None  # when set, replies wait for it
        self.connection_pool = FakePool(self)

    def tokens(self, key: str) -> float:
        tokens, ts = self.buckets.get(key, (self.burst, self.clock.now()))
        return min(self.burst, tokens + (self.clock.now() - ts) * self.rate)

    def lease(self, key: str, give_back: int, want: int) -> list[Any]:
        self.requests.append((key, give_back, want))
        tokens = min(self.burst, self.tokens(key) + give_back)
        granted = max(0, min(want, math.floor(tokens)))
        self.buckets[key] = (tokens - granted, self.clock.now())
        return [granted, repr(tokens - granted).encode()]

    async def run(self, command: tuple[str, ...]) -> Any:
        if self.hold is not None:
            await self.hold.wait()
        if self.down:
            raise RedisConnectionError("Connection refused")
        name, *args = command
        if name == "SCRIPT":
            return b"sha"
        assert name == "EVALSHA", command
        key, rate, burst, give_back, want = args[2:]
        assert (float(rate), int(burst)) == (self.rate, self.burst)
        return self.lease(key, int(give_back), int(want))


def _parse(data: bytes) -> list[tuple[str, ...]]:
    commands: list[tuple[str, ...]] = []
    lines = iter(data.split(b"\r\n"))
    for line in lines:
        if line:  # "*<count>", then "$<length>" and the value for each argument
            arguments = []
            for _ in range(int(line[1:])):
                next(lines)
                arguments.append(next(lines).decode())
            commands.append(tuple(arguments))
    return commands


class FakeConnection:
    """Runs the commands sent on it on the server, in order, as their replies are read."""

    def __init__(self, server: LeaseServer) -> None:
        self.server = server
        self.sent: list[tuple[str, ...]] = []
        self.arrived = asyncio.Event()

    async def send_packed_command(self, command: list[bytes], check_health: bool = True) -> None:
        if self.server.down:
            raise RedisConnectionError("Connection refused")
        self.sent.extend(_parse(b"".join(command)))
        self.arrived.set()

    async def read_response(self) -> Any:
        while not self.sent:
            self.arrived.clear()
            await self.arrived.wait()
        return await self.server.run(self.sent.pop(0))

    async def disconnect(self, nowait: bool = False) -> None:
        self.sent.clear()


class FakePool:
    def __init__(self, server: LeaseServer) -> None:
        self.server = server

    async def get_connection(self) -> FakeConnection:
        if self.server.down:
            raise RedisConnectionError("Connection refused")
        return FakeConnection(self.server)

    async def release(self, connection: FakeConnection) -> None:
        pass


def _setup(
    rate: float = 1000, burst: int = 1000, **kwargs: Any
) -> tuple[MockClock, LeaseServer, RedisLeaseBucket]:
    clock = MockClock()
    server = LeaseServer(clock, rate=rate, burst=burst)
    bucket = RedisLeaseBucket(client=server, key="q", rate=rate, burst=burst, clock=clock, **kwargs)  # type: ignore[arg-type]
    return clock, server, bucket


async def _settle() -> None:
    """Let background refills run to completion (the fake answers without waiting)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def _steady(clock: MockClock, bucket: RedisLeaseBucket, per_second: float, seconds: float) -> int:
    """Decide at ``per_second`` for ``seconds`` of mock time; the number admitted."""
    admitted = 0
    step = 1 / per_second
    for _ in range(round(per_second * seconds)):
        if await bucket.try_acquire():
            admitted += 1
        await _settle()
        clock.jump(step)
    return admitted


# -- construction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0}, "rate must be > 0 and finite"),
        ({"rate": math.nan}, "rate must be > 0 and finite"),
        ({"burst": 0}, "burst must be >= 1"),
        ({"horizon": 0}, "horizon must be > 0 and finite"),
        ({"horizon": math.inf}, "horizon must be > 0 and finite"),
        ({"min_lease": 0}, "min_lease must be >= 1"),
        ({"min_lease": 5, "max_lease": 4}, "max_lease must be >= min_lease and <= burst"),
        ({"max_lease": 11}, "max_lease must be >= min_lease and <= burst"),
        ({"ttl": 0.05}, "ttl must be >= horizon and finite"),
        ({"ttl": math.inf}, "ttl must be >= horizon and finite"),
        ({"replicas": 0}, "replicas must be >= 1"),
        ({"timeout": 0}, "timeout must be > 0 and finite"),
    ],
)
def test_arguments_checked(kwargs: dict[str, Any], message: str) -> None:
    """Bad configuration fails at construction with a precise message."""
    options: dict[str, Any] = {"key": "k", "rate": 10, "burst": 10}
    options.update(kwargs)
    with pytest.raises(ValueError, match=message):
        RedisLeaseBucket(client=LeaseServer(MockClock(), rate=10, burst=10), **options)  # type: ignore[arg-type]


def test_default_max_lease_is_the_replicas_share_of_the_burst() -> None:
    """Without max_lease, a replica never asks for more than burst // replicas."""
    bucket = RedisLeaseBucket(
        client=LeaseServer(MockClock(), rate=10, burst=10),  # type: ignore[arg-type]
        key="k", rate=10, burst=100, replicas=3,
    )  # fmt: skip
    assert bucket._max_lease == 33


# -- sizing ------------------------------------------------------------------------------------


async def test_first_decision_waits_for_a_minimal_lease() -> None:
    """Nothing measured yet: the first decision asks for min_lease tokens and waits for them."""
    _, server, bucket = _setup(min_lease=2)
    assert await bucket.try_acquire()
    assert server.requests[0] == ("q", 0, 2)
    assert bucket.statistics().round_trips >= 1


async def test_lease_size_follows_the_local_rate() -> None:
    """At a steady 500 decisions/s a lease is sized for horizon (100 ms) of them: about 50."""
    clock, server, bucket = _setup(rate=10_000, burst=10_000)
    await _steady(clock, bucket, 500, 2.0)
    late = [want for _, _, want in server.requests[-5:]]
    assert all(45 <= want <= 55 for want in late), late


async def test_lease_size_follows_a_longer_horizon() -> None:
    """The same rate with a 200 ms horizon asks for leases twice as big."""
    clock, server, bucket = _setup(rate=10_000, burst=10_000, horizon=0.2)
    await _steady(clock, bucket, 500, 2.0)
    late = [want for _, _, want in server.requests[-5:]]
    assert all(90 <= want <= 110 for want in late), late


async def test_lease_size_is_capped_by_max_lease() -> None:
    """A demand that would want 200 tokens per lease asks for max_lease (64)."""
    clock, server, bucket = _setup(rate=10_000, burst=10_000, max_lease=64)
    await _steady(clock, bucket, 2000, 1.0)
    assert server.requests[-1][2] == 64


async def test_lease_size_has_a_floor() -> None:
    """A trickle (5/s would want half a token) asks for min_lease (3)."""
    clock, server, bucket = _setup(min_lease=3)
    await _steady(clock, bucket, 5, 2.0)
    assert {want for _, _, want in server.requests[1:]} == {3}


async def test_far_fewer_round_trips_than_decisions() -> None:
    """At 1,000 decisions/s (within the limit) a replica makes <= 0.1 round trips per decision."""
    clock, _, bucket = _setup(rate=2000, burst=200)
    admitted = await _steady(clock, bucket, 1000, 2.0)
    stats = bucket.statistics()
    assert admitted == 2000
    assert stats.round_trips / (stats.admitted + stats.rejected) <= 0.1, stats


# -- refill ------------------------------------------------------------------------------------


async def test_refill_starts_below_half_the_lease() -> None:
    """A lease of 10 is not refilled while 5 or more remain, and is once fewer do."""
    _, server, bucket = _setup(min_lease=10, max_lease=10)
    assert await bucket.try_acquire()  # waits for the first lease of 10, takes 1: 9 left
    await _settle()
    for _ in range(4):  # 5 left
        assert await bucket.try_acquire()
        await _settle()
    assert len(server.requests) == 1
    assert await bucket.try_acquire()  # 4 left: below half
    await _settle()
    assert len(server.requests) == 2
    assert bucket.statistics().held == 14


async def test_one_refill_in_flight_at_a_time() -> None:
    """Decisions arriving while a refill is in flight share it instead of sending their own."""
    _, server, bucket = _setup(min_lease=1, max_lease=1)
    server.hold = asyncio.Event()
    waiting = [asyncio.ensure_future(bucket.try_acquire()) for _ in range(5)]
    await _settle()
    assert len(bucket._pipe._pending) == 1  # five decisions waiting, one request sent
    server.hold.set()
    results = await asyncio.gather(*waiting)
    await _settle()
    stats = bucket.statistics()
    assert results == [True] * 5  # the request covered what was waiting for it
    assert results.count(True) + stats.held == stats.leased
    assert stats.round_trips == len(server.requests)


async def test_empty_lease_waits_for_the_refill_in_flight() -> None:
    """Concurrent first decisions all wait for leases (none refused while the bucket has tokens)."""
    _, server, bucket = _setup(rate=100, burst=100)
    results = await asyncio.gather(*(bucket.try_acquire() for _ in range(20)))
    assert results == [True] * 20
    assert len(server.requests) <= 3  # the first (min_lease), then one sized by the 19 waiting


async def test_dry_shared_bucket_refuses_without_round_trips() -> None:
    """Once Redis grants less than asked, decisions are refused locally until half a lease may
    have refilled, and say how long that is."""
    clock, server, bucket = _setup(rate=10, burst=20, min_lease=4, max_lease=4)
    admitted = [await bucket.try_acquire() for _ in range(30)]
    assert admitted.count(True) == 20  # exactly the burst, no more
    requests = len(server.requests)
    decision = await bucket.decide()
    assert not decision.admitted
    assert len(server.requests) == requests  # no round trip for it
    assert decision.retry_after == pytest.approx(0.2)  # 2 tokens (half a lease) at 10/s
    clock.jump(0.2)
    assert await bucket.try_acquire()
    assert len(server.requests) == requests + 1


async def test_a_cancelled_waiter_does_not_cancel_the_refill() -> None:
    """A caller that gives up while waiting leaves the refill to those still waiting."""
    _, server, bucket = _setup()
    server.hold = asyncio.Event()
    gone = asyncio.ensure_future(bucket.try_acquire())
    kept = asyncio.ensure_future(bucket.try_acquire())
    await _settle()
    gone.cancel()
    server.hold.set()
    assert await kept
    assert gone.cancelled()


# -- expiry ------------------------------------------------------------------------------------


async def test_expired_tokens_are_given_back_with_the_next_request() -> None:
    """Tokens unused after ttl go back to the shared bucket in the next lease request."""
    clock, server, bucket = _setup(rate=1, burst=10, min_lease=8, max_lease=8, ttl=1.0)
    assert await bucket.try_acquire()  # a lease of 8: 7 left, 2 in the bucket
    await _settle()
    clock.jump(1.0)
    assert await bucket.try_acquire()
    await _settle()
    key, give_back, _ = server.requests[-1]
    assert (key, give_back) == ("q", 7)
    assert bucket.statistics().returned == 7


async def test_expired_tokens_are_not_spent() -> None:
    """After ttl, held tokens are not used: the decision waits for a fresh lease instead."""
    clock, server, bucket = _setup(rate=1, burst=10, min_lease=5, max_lease=5, ttl=1.0)
    assert await bucket.try_acquire()
    await _settle()
    clock.jump(2.0)
    server.down = True  # a fresh lease is impossible, so an admit must come from the fallback
    await bucket.try_acquire()
    stats = bucket.statistics()
    assert (stats.mode, stats.local_decisions) == ("local", 1)
    await bucket.aclose()


async def test_aclose_gives_unused_tokens_back() -> None:
    """aclose() returns what the lease still holds, so the other replicas can use it."""
    _, server, bucket = _setup(rate=1, burst=10, min_lease=6, max_lease=6)
    assert await bucket.try_acquire()
    await _settle()
    before = server.tokens("q")
    await bucket.aclose()
    assert server.tokens("q") == pytest.approx(before + 5)
    assert bucket.statistics().returned == 5


# -- failure -----------------------------------------------------------------------------------


async def test_redis_down_falls_back_to_the_local_share() -> None:
    """A failed lease request sends decisions to the local share (rate / replicas), never raises."""
    _, server, bucket = _setup(rate=40, burst=8, replicas=4)
    server.down = True
    assert [await bucket.try_acquire() for _ in range(3)] == [True, True, False]
    stats = bucket.statistics()
    assert (stats.mode, stats.fallbacks, stats.errors, stats.local_decisions) == ("local", 1, 1, 3)
    await bucket.aclose()


async def test_failure_drops_the_held_tokens() -> None:
    """Tokens held when Redis fails are dropped (the safe side), not spent on top of the fallback."""
    _, server, bucket = _setup(rate=1000, burst=100, min_lease=10, max_lease=10)
    assert await bucket.try_acquire()  # 9 left
    await _settle()
    server.down = True
    for _ in range(5):
        assert await bucket.try_acquire()  # from the lease: 4 left, below half, a refill starts
    assert bucket.statistics().held == 4
    await _settle()  # the refill fails
    stats = bucket.statistics()
    assert (stats.mode, stats.held, stats.errors) == ("local", 0, 1)
    await bucket.aclose()


async def test_more_than_max_lease_can_still_be_taken() -> None:
    """A decision for more units than max_lease (within the burst) asks for a lease big enough."""
    _, server, bucket = _setup(rate=1, burst=10, min_lease=1, max_lease=4)
    assert await bucket.try_acquire(8)
    assert server.requests[-1][2] == 8
    assert not await bucket.try_acquire(8)  # 2 left in the shared bucket


async def test_more_than_burst_is_refused_without_redis() -> None:
    """Asking for more than the burst can never succeed: refused at once, retry_after is inf."""
    _, server, bucket = _setup(burst=5)
    decision = await bucket.decide(6)
    assert (decision.admitted, decision.retry_after) == (False, math.inf)
    assert server.requests == []


async def test_n_must_be_positive() -> None:
    """decide rejects n < 1 rather than minting tokens."""
    with pytest.raises(ValueError, match="n must be >= 1"):
        await _setup()[2].decide(0)


async def test_each_key_suffix_has_its_own_lease() -> None:
    """A key_suffix leases from its own shared bucket, f"{key}:{suffix}"."""
    _, server, bucket = _setup(rate=1, burst=1)
    assert await bucket.try_acquire(key_suffix="a")
    assert await bucket.try_acquire(key_suffix="b")
    assert not await bucket.try_acquire(key_suffix="a")
    assert {key for key, _, _ in server.requests} == {"q:a", "q:b"}


def test_statistics_are_a_frozen_extension_of_the_redis_statistics() -> None:
    """statistics() is an immutable RedisLimiterStatistics with the lease counts added."""
    stats = _setup()[2].statistics()
    assert isinstance(stats, RedisLeaseStatistics)
    assert isinstance(stats, RedisLimiterStatistics)
    assert (stats.round_trips, stats.leased, stats.returned, stats.held) == (0, 0, 0, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.held = 1  # type: ignore[misc]


def test_repr_names_configuration() -> None:
    """repr shows the key, the limit, the horizon and the mode."""
    assert repr(_setup(rate=5, burst=7)[2]) == (
        "RedisLeaseBucket(key='q', rate=5.0, burst=7, replicas=1, horizon=0.1, mode='redis')"
    )


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.3, 1.5])),
        min_size=1,
        max_size=300,
    )
)
def test_replicas_together_never_exceed_rate_times_time_plus_burst(steps: list[tuple[int, float]]) -> None:
    """Three replicas leasing from one bucket admit at most rate x elapsed + burst, whatever the
    pattern of their decisions and pauses."""

    async def scenario() -> tuple[int, float]:
        clock = MockClock()
        server = LeaseServer(clock, rate=50, burst=20)
        replicas = [
            RedisLeaseBucket(client=server, key="q", rate=50, burst=20, replicas=3, clock=clock)  # type: ignore[arg-type]
            for _ in range(3)
        ]
        admitted = 0
        for replica, pause in steps:
            if await replicas[replica].try_acquire():
                admitted += 1
            await _settle()
            clock.jump(pause)
        return admitted, clock.now()

    admitted, elapsed = asyncio.run(scenario())
    assert admitted <= 50 * elapsed + 20


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


@pytest.mark.integration
async def test_real_leases_share_one_bucket(client: aredis.Redis) -> None:
    """Two lease buckets on one key together admit the burst, then nothing until it refills."""
    first = RedisLeaseBucket(client=client, key="real", rate=0.001, burst=10, min_lease=4, max_lease=4)
    second = RedisLeaseBucket(client=client, key="real", rate=0.001, burst=10, min_lease=4, max_lease=4)
    results = [await limiter.try_acquire() for _ in range(10) for limiter in (first, second)]
    assert results.count(True) == 10
    await first.aclose()
    await second.aclose()


@pytest.mark.integration
async def test_real_round_trips_per_decision(client: aredis.Redis, redis_server: RedisServer) -> None:
    """At about 1,000 decisions/s for 1 s, INFO commandstats counts <= 0.1 EVALSHA per decision."""
    bucket = RedisLeaseBucket(client=client, key="rt", rate=500, burst=50)
    assert await bucket.prepare()
    redis_server.call("CONFIG", "RESETSTAT")
    decisions = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + 1.0
    while loop.time() < end:
        await bucket.try_acquire()
        decisions += 1
        await asyncio.sleep(0.001)
    stats = redis_server.call("INFO", "commandstats")
    evalsha = int(stats.split("cmdstat_evalsha:calls=")[1].split(",")[0])
    assert decisions >= 500
    assert evalsha / decisions <= 0.1, (evalsha, decisions)
    await bucket.aclose()
