"""Limits shared by every replica through Redis (``backend: redis``), with a local fallback on
outage (see :mod:`seawall.limit._redis`); ``rate_limit`` with ``lease: true`` decides on leased
tokens (:mod:`seawall.limit._redis_lease`) through the same check."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, final

from seawall.errors import RateLimited
from seawall.governance._call import Call
from seawall.governance._check import CompileContext, Exit, FieldError
from seawall.governance._keys import KeyFn
from seawall.governance._registry import ResourceInfo

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["PREPARED_CONNECTIONS", "RedisLimiterCheck", "redis_check"]

logger = logging.getLogger("seawall.governance")


@final
class RedisLimiterCheck:
    """429 when the shared limit (for this call's key) has no room."""

    __slots__ = ("_key", "limiter", "name")
    cost = 50
    wants_outcome = False  # no exit

    def __init__(self, name: str, limiter: Any, key: KeyFn) -> None:
        self.name = name
        self.limiter = limiter
        self._key = key

    async def enter_async(self, call: Call) -> Exit | None:
        decision = await self.limiter.decide(key_suffix=str(self._key(call)))
        if decision.admitted:
            return None
        raise RateLimited(retry_after=decision.retry_after, check=self.name)


def _client(ctx: CompileContext) -> Redis:
    url = ctx.redis_url
    if not url:
        raise FieldError("backend", "a policy uses backend: redis but no redis_url is configured")

    def build() -> Redis:
        import redis.asyncio as aredis  # optional dependency: seawall[redis]
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries of its own: redis-py >= 6 retries 3 times with backoff by default, so the
        # first decision of an outage would wait out the whole timeout instead of falling back.
        client: Redis = aredis.Redis.from_url(url, retry=Retry(NoBackoff(), 0))
        return client

    client: Redis = ctx.registry.obtain(("redis", url), build, close=lambda c: c.aclose())
    return client


#: Connections a Redis limiter opens before the service is ready: its decisions are pipelined on
#: one connection of its own.
PREPARED_CONNECTIONS: Final = 1


async def _prepare(limiter: Any) -> None:
    if not await limiter.prepare(connections=PREPARED_CONNECTIONS):
        logger.warning(
            "Redis limiter %s could not connect at start; deciding locally until it can", limiter.key
        )


def redis_check(
    ctx: CompileContext, name: str, config: Any, key: str, build: Callable[[Redis, str], Any]
) -> RedisLimiterCheck:
    """The check of a Redis-backed section; ``build(client, redis_key)`` makes the limiter."""
    client = _client(ctx)
    keyfn = ctx.key(key)
    redis_key = f"seawall:{ctx.service}:{ctx.method}:{ctx.target}:{name}"
    limiter = ctx.registry.obtain(
        ctx.resource_key(f"redis_{name}", config),
        lambda: build(client, redis_key),
        info=ResourceInfo("redis_limiter", ctx.target, ctx.method, f"redis_{name}"),
        # Connect and load the script before the service reports ready (a cold-start burst must
        # not pay connection setup inside its 50 ms decision timeout and fall back).
        start=lambda lim: _prepare(lim),
        close=lambda lim: lim.aclose(),
    )
    return RedisLimiterCheck(f"redis_{name}", limiter, keyfn)
