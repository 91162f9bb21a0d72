"""``warmup``: Sentinel's cold-start ramp (WarmUpController), 429 beyond the current rate."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from seawall.governance._check import CompileContext, register_check
from seawall.governance._policy import Policy, Section, define_section, validate_struct
from seawall.governance.checks._limiter import LimiterCheck, limiter_check
from seawall.governance.checks._types import PositiveSeconds, Rate
from seawall.limit import WarmUp

__all__ = ["WARMUP", "WarmUpPolicy"]


class WarmUpPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Sentinel WarmUpController: ramp from ``count / cold_factor`` to ``count`` requests/s over
    ``period`` seconds after a cold start or an idle spell."""

    count: Rate
    period: PositiveSeconds = 10.0
    cold_factor: Annotated[int, msgspec.Meta(ge=2, le=1000)] = 3

    def __post_init__(self) -> None:
        validate_struct(self)


#: A warm-up ramp on the route.
WARMUP: Final[Section[WarmUpPolicy | None]] = define_section(
    "warmup", WarmUpPolicy | None, None, "cold-start ramp (429 beyond)"
)


def _factory(policy: Policy, ctx: CompileContext) -> LimiterCheck | None:
    wu = policy[WARMUP]
    if wu is None:
        return None
    clock = ctx.clock
    return limiter_check(
        ctx,
        "warmup",
        22,
        wu,
        "warmup",
        lambda: WarmUp(count=wu.count, warmup_period=wu.period, cold_factor=wu.cold_factor, clock=clock),
        "global",
    )


register_check(WARMUP.name, _factory)
