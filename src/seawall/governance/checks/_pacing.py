"""``pacing``: leaky-bucket pacing (Sentinel ThrottlingController): calls wait for their slot, 429
when the wait would be too long."""

from __future__ import annotations

from typing import Final, final

import msgspec

from seawall._clock import Clock
from seawall.errors import RateLimited
from seawall.governance._call import Call
from seawall.governance._check import CompileContext, Exit, register_check
from seawall.governance._policy import Policy, Section, define_section, validate_struct
from seawall.governance._registry import ResourceInfo
from seawall.governance.checks._types import Rate, Seconds
from seawall.limit import LeakyBucket

__all__ = ["PACING", "PacingCheck", "PacingPolicy"]


class PacingPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Requests spaced ``1/rate`` s apart, each waiting at most ``max_wait`` seconds (429 beyond)."""

    rate: Rate
    max_wait: Seconds = 0.5

    def __post_init__(self) -> None:
        validate_struct(self)


#: Leaky-bucket pacing on the route.
PACING: Final[Section[PacingPolicy | None]] = define_section(
    "pacing", PacingPolicy | None, None, "leaky-bucket pacing (429 beyond max_wait)"
)


@final
class PacingCheck:
    """Waits for the call's slot, or 429 when the wait would exceed ``max_wait``."""

    __slots__ = ("clock", "limiter")
    name = "pacing"
    cost = 40
    wants_outcome = False  # no exit

    def __init__(self, limiter: LeakyBucket, clock: Clock) -> None:
        self.limiter = limiter
        self.clock = clock

    async def enter_async(self, call: Call) -> Exit | None:
        wait = self.limiter.reserve()
        if wait is None:
            raise RateLimited(retry_after=self.limiter.retry_after(), check=self.name)
        if wait > 0:
            await self.clock.sleep(wait)
        return None


def _factory(policy: Policy, ctx: CompileContext) -> PacingCheck | None:
    p = policy[PACING]
    if p is None:
        return None
    clock = ctx.clock
    limiter = ctx.registry.obtain(
        ctx.resource_key("pacing", p),
        lambda: LeakyBucket(rate=p.rate, max_wait=p.max_wait, clock=clock),
        info=ResourceInfo("leaky_bucket", ctx.target, ctx.method, PacingCheck.name),
    )
    return PacingCheck(limiter, clock)


register_check(PACING.name, _factory)
