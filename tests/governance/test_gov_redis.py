"""Redis-backed limits in the request path, against a real ``redis-server``: one limit shared by
two service instances, and a Redis outage that never turns into a 5xx."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from tests.governance.gov_support import check, client, endpoint
from tests.servers import RedisServer, server_fixture, start_redis

from seawall import ConfigError, Policy, RateLimitPolicy, Service, WindowPolicy
from seawall.governance import decode_patch
from seawall.limit import RedisLeaseBucket, RedisTokenBucket
from seawall.testing import MockClock

pytestmark = pytest.mark.integration

redis_server = server_fixture(start_redis, name="redis_server")


def replica(server: RedisServer, clock: MockClock, policy: Policy) -> Service:
    """One instance of the service ``shared``; instances of one name share their Redis keys."""
    svc = Service("shared", clock=clock, redis_url=server.url)

    @svc.get("/x", policy=policy)
    async def x() -> dict[str, bool]:
        return {"ok": True}

    return svc


async def alternate(a: Service, b: Service, n: int, **headers: str) -> list[int]:
    """``n`` requests, alternating between the two instances; their status codes in order."""
    async with client(a) as ca, client(b) as cb:
        return [
            (await c.get("/x", headers=headers)).status_code
            for c in itertools.islice(itertools.cycle((ca, cb)), n)
        ]


async def test_token_bucket_is_shared_by_two_instances(
    redis_server: RedisServer, mock_clock: MockClock
) -> None:
    """Burst 10 shared through Redis: two instances together admit 10 of 16, not 10 each."""
    policy = Policy(rate_limit=RateLimitPolicy(rate=0.01, burst=10, backend="redis"))
    a, b = replica(redis_server, mock_clock, policy), replica(redis_server, mock_clock, policy)
    try:
        codes = await alternate(a, b, 16)
    finally:
        await a.shutdown()
        await b.shutdown()
    assert codes.count(200) == 10
    assert codes[:10] == [200] * 10
    assert set(codes[10:]) == {429}


async def test_lease_mode_is_shared_by_two_instances(
    redis_server: RedisServer, mock_clock: MockClock
) -> None:
    """``lease: true`` decides on leased tokens and still holds the shared burst: two instances
    together admit 10 of 16, the first 10."""
    policy = Policy(rate_limit=RateLimitPolicy(rate=0.01, burst=10, backend="redis", lease=True))
    a, b = replica(redis_server, mock_clock, policy), replica(redis_server, mock_clock, policy)
    try:
        codes = await alternate(a, b, 16)
        limiter = check(endpoint(a, "/x"), "redis_rate_limit").limiter
    finally:
        await a.shutdown()
        await b.shutdown()
    assert isinstance(limiter, RedisLeaseBucket)
    assert limiter.statistics().round_trips >= 1
    assert codes == [200] * 10 + [429] * 6


async def test_without_lease_each_decision_is_a_round_trip(
    redis_server: RedisServer, mock_clock: MockClock
) -> None:
    """``backend: redis`` alone keeps the one-round-trip token bucket."""
    svc = replica(
        redis_server, mock_clock, Policy(rate_limit=RateLimitPolicy(rate=1, burst=4, backend="redis"))
    )
    try:
        async with client(svc) as c:
            await c.get("/x")
        limiter = check(endpoint(svc, "/x"), "redis_rate_limit").limiter
    finally:
        await svc.shutdown()
    assert type(limiter) is RedisTokenBucket


def test_lease_needs_the_redis_backend() -> None:
    """``lease: true`` without ``backend: redis`` is refused, naming the field."""
    with pytest.raises(ValueError, match="lease must be false unless backend is redis"):
        RateLimitPolicy(rate=1, lease=True)
    with pytest.raises(ConfigError, match="lease must be false") as info:
        decode_patch({"rate_limit": {"rate": 1, "lease": True}})
    assert info.value.path == "$.rate_limit.lease"
    with pytest.raises(ConfigError) as info:
        decode_patch({"rate_limit": {"rate": 1, "backend": "redis", "lease": "yes"}})
    assert info.value.path == "$.rate_limit.lease"


async def test_window_is_shared_by_two_instances(redis_server: RedisServer, mock_clock: MockClock) -> None:
    """A Redis window of 5 per minute admits 5 across both instances."""
    policy = Policy(window=WindowPolicy(limit=5, window=60, backend="redis"))
    a, b = replica(redis_server, mock_clock, policy), replica(redis_server, mock_clock, policy)
    try:
        codes = await alternate(a, b, 8)
    finally:
        await a.shutdown()
        await b.shutdown()
    assert codes == [200] * 5 + [429] * 3


async def test_redis_limit_per_client_key(redis_server: RedisServer, mock_clock: MockClock) -> None:
    """Keyed by ``x-api-key``, client A's shared bucket runs out while client B's is untouched."""
    policy = Policy(rate_limit=RateLimitPolicy(rate=0.01, burst=2, key="header:x-api-key", backend="redis"))
    a, b = replica(redis_server, mock_clock, policy), replica(redis_server, mock_clock, policy)
    try:
        assert await alternate(a, b, 3, **{"x-api-key": "A"}) == [200, 200, 429]
        assert await alternate(a, b, 2, **{"x-api-key": "B"}) == [200, 200]
    finally:
        await a.shutdown()
        await b.shutdown()


async def test_redis_outage_falls_back_and_recovers(redis_server: RedisServer, mock_clock: MockClock) -> None:
    """Redis killed mid-run: only 200/429, a fallback counted; restarted: decisions go to Redis again."""
    svc = replica(
        redis_server, mock_clock, Policy(rate_limit=RateLimitPolicy(rate=1, burst=4, backend="redis"))
    )
    try:
        async with client(svc) as c:
            before = [(await c.get("/x")).status_code for _ in range(2)]
            limiter = check(endpoint(svc, "/x"), "redis_rate_limit").limiter
            assert limiter.statistics().remote_decisions == 2

            redis_server.stop(kill=True)
            during = [(await c.get("/x")).status_code for _ in range(8)]
            stats = limiter.statistics()
            assert stats.mode == "local"
            assert stats.fallbacks >= 1
            assert stats.local_decisions == 8

            await asyncio.to_thread(redis_server.start)
            mock_clock.jump(0.1)  # wake the probe, which sleeps on the service's clock
            for _ in range(500):  # wait for its SCRIPT LOAD round trip (real I/O, not time)
                if limiter.mode == "redis":
                    break
                await asyncio.sleep(0.01)
            remote = limiter.statistics().remote_decisions
            after = (await c.get("/x")).status_code
    finally:
        await svc.shutdown()
    assert before == [200, 200]
    assert set(during) == {200, 429}  # the local share (burst 4) admits some, refuses the rest
    assert after == 200  # the restarted Redis has an empty key: a full bucket
    final = limiter.statistics()
    assert final.mode == "redis"
    assert final.recoveries == 1
    assert final.remote_decisions == remote + 1


async def test_shutdown_closes_the_redis_limiters(redis_server: RedisServer, mock_clock: MockClock) -> None:
    """``Service.shutdown()`` stops each limiter's probe and closes the Redis client."""
    svc = replica(
        redis_server, mock_clock, Policy(rate_limit=RateLimitPolicy(rate=1, burst=4, backend="redis"))
    )
    async with client(svc) as c:
        assert (await c.get("/x")).status_code == 200
    redis_server.stop(kill=True)
    async with client(svc) as c:
        assert (await c.get("/x")).status_code == 200  # falls back, starts a probe
    await svc.shutdown()
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("seawall-redis-")] == []
