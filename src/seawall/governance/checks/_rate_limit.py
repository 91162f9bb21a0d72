"""``rate_limit``: a token bucket, global or per client key, local or shared through Redis (429)."""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

from seawall.governance._check import CompileContext, register_check
from seawall.governance._keys import check_key_spec
from seawall.governance._policy import Policy, Section, define_section, validate_struct
from seawall.governance.checks._limiter import LimiterCheck, limiter_check
from seawall.governance.checks._redis import RedisLimiterCheck, redis_check
from seawall.governance.checks._types import Count, Key, Rate
from seawall.limit import TokenBucket

__all__ = ["RATE_LIMIT", "RateLimitPolicy"]


class RateLimitPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A token bucket: ``rate`` requests/s with bursts of ``burst`` (429 beyond), per ``key``.

    ``backend: redis`` shares the bucket between replicas through Redis (``redis_url``); each
    replica falls back to ``rate / replicas`` locally while Redis is unreachable. ``lease: true``
    (Redis only) takes tokens from the shared bucket in batches sized to the replica's recent rate
    and decides locally between them (:class:`~seawall.limit.RedisLeaseBucket`).
    """

    rate: Rate
    burst: Count | None = None
    key: Key = "global"
    backend: Literal["local", "redis"] = "local"
    replicas: Count = 1
    lease: bool = False

    def __post_init__(self) -> None:
        validate_struct(self)
        check_key_spec(self.key)
        if self.lease and self.backend != "redis":
            raise ValueError("lease must be false unless backend is redis")

    @property
    def effective_burst(self) -> int:
        return self.burst if self.burst is not None else max(1, int(self.rate))


#: A token-bucket limit on the route.
RATE_LIMIT: Final[Section[RateLimitPolicy | None]] = define_section(
    "rate_limit", RateLimitPolicy | None, None, "token bucket (429 beyond)"
)


def _factory(policy: Policy, ctx: CompileContext) -> LimiterCheck | RedisLimiterCheck | None:
    rl = policy[RATE_LIMIT]
    if rl is None:
        return None
    if rl.backend == "redis":

        def build(client: Any, key: str) -> Any:
            from seawall.limit._redis import RedisTokenBucket
            from seawall.limit._redis_lease import RedisLeaseBucket

            return (RedisLeaseBucket if rl.lease else RedisTokenBucket)(
                client=client,
                key=key,
                rate=rl.rate,
                burst=rl.effective_burst,
                replicas=rl.replicas,
                clock=ctx.clock,
            )

        return redis_check(ctx, "rate_limit", rl, rl.key, build)
    clock = ctx.clock
    return limiter_check(
        ctx,
        "rate_limit",
        20,
        rl,
        "token_bucket",
        lambda: TokenBucket(rate=rl.rate, burst=rl.effective_burst, clock=clock),
        rl.key,
    )


register_check(RATE_LIMIT.name, _factory)
