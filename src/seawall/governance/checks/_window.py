"""``window``: at most N calls per sliding window (total QPS, Sentinel LeapArray-like), 429 beyond."""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

from seawall.governance._check import CompileContext, register_check
from seawall.governance._keys import check_key_spec
from seawall.governance._policy import Policy, Section, define_section, validate_struct
from seawall.governance.checks._limiter import LimiterCheck, limiter_check
from seawall.governance.checks._redis import RedisLimiterCheck, redis_check
from seawall.governance.checks._types import Count, Key, PositiveSeconds
from seawall.limit import SlidingWindow

__all__ = ["WINDOW", "WindowPolicy"]


class WindowPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """At most ``limit`` requests per sliding ``window`` seconds (total QPS), per ``key``."""

    limit: Count
    window: PositiveSeconds = 1.0
    key: Key = "global"
    backend: Literal["local", "redis"] = "local"
    replicas: Count = 1

    def __post_init__(self) -> None:
        validate_struct(self)
        check_key_spec(self.key)


#: A sliding-window limit on the route.
WINDOW: Final[Section[WindowPolicy | None]] = define_section(
    "window", WindowPolicy | None, None, "sliding-window limit (429 beyond)"
)


def _factory(policy: Policy, ctx: CompileContext) -> LimiterCheck | RedisLimiterCheck | None:
    w = policy[WINDOW]
    if w is None:
        return None
    if w.backend == "redis":

        def build(client: Any, key: str) -> Any:
            from seawall.limit._redis import RedisWindowLimiter

            return RedisWindowLimiter(
                client=client, key=key, limit=w.limit, window=w.window, replicas=w.replicas, clock=ctx.clock
            )

        return redis_check(ctx, "window", w, w.key, build)
    clock = ctx.clock
    return limiter_check(
        ctx,
        "window",
        20,
        w,
        "sliding_window",
        lambda: SlidingWindow(limit=w.limit, window=w.window, clock=clock),
        w.key,
    )


register_check(WINDOW.name, _factory)
