"""``hotspots``: per-value limits on one parameter (a hot product id), 429 for the hot value only.

A policy may hold any number of hotspot rules; each becomes its own check. The value is the
parameter's *canonical* (converted) value, so ``/items/1`` and ``/items/01`` count as one, and
an invalid value is refused (400) before any budget is spent on it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Annotated, Final, cast, final

import msgspec

from seawall._clock import Clock
from seawall.errors import RateLimited
from seawall.governance._call import Call
from seawall.governance._check import CompileContext, Exit, register_check
from seawall.governance._keys import KeyFn, check_key_spec
from seawall.governance._policy import Policy, Section, define_section, validate_struct
from seawall.governance._registry import ResourceInfo
from seawall.governance.checks._types import Count, Key, Rate
from seawall.limit import HotspotLimiter

__all__ = ["HOTSPOTS", "HotspotCheck", "HotspotPolicy"]


class HotspotPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Per-value limits on one parameter (``key``), e.g. ``path:item_id`` at ``rate``/s each, with
    ``overrides`` for named hot values (keys are the canonical text of the converted value, e.g.
    ``"7"`` for ``item_id: int``); at most ``max_values`` values are tracked (LRU)."""

    key: Key
    rate: Rate
    burst: Count | None = None
    overrides: dict[str, Rate] = msgspec.field(default_factory=dict)
    max_values: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 10_000

    def __post_init__(self) -> None:
        validate_struct(self)
        check_key_spec(self.key, "hotspot key")
        if any(not 0 < r <= 1e9 for r in self.overrides.values()):
            raise ValueError("overrides must be > 0")


#: Per-value limits on the route, one entry per parameter.
HOTSPOTS: Final[Section[tuple[HotspotPolicy, ...]]] = define_section(
    "hotspots",
    tuple[HotspotPolicy, ...],
    cast(tuple[HotspotPolicy, ...], ()),
    "per-value limits (429 for the hot value)",
)


def _text(value: Hashable) -> Hashable:
    # Overrides are keyed by text: the converted value's canonical text (1 -> "1").
    return value if isinstance(value, str) else str(value)


@final
class HotspotCheck:
    """429 when this call's value of the parameter has used its budget (adapts :class:`HotspotLimiter`)."""

    __slots__ = ("_key", "limiter", "name")
    cost = 24
    wants_outcome = False  # no exit

    def __init__(self, limiter: HotspotLimiter, key: KeyFn, spec: str) -> None:
        self.limiter = limiter
        self._key = key
        self.name = f"hotspot:{spec}"

    def enter(self, call: Call) -> Exit | None:
        value = _text(self._key(call))
        if self.limiter.try_acquire(value):
            return None
        raise RateLimited(
            f"too many requests for {value!r}", retry_after=self.limiter.retry_after(value), check=self.name
        )


def _builder(h: HotspotPolicy, clock: Clock) -> Callable[[], HotspotLimiter]:
    return lambda: HotspotLimiter(
        rate=h.rate, burst=h.burst, overrides=OrderedDict(h.overrides), max_values=h.max_values, clock=clock
    )


def _factory(policy: Policy, ctx: CompileContext) -> list[HotspotCheck]:
    checks = []
    rules: tuple[HotspotPolicy, ...] = policy[HOTSPOTS]
    for i, h in enumerate(rules):
        key = ctx.key(h.key, field=f"[{i}].key")
        limiter = ctx.registry.obtain(
            ctx.resource_key(f"hotspot{i}", h),
            _builder(h, ctx.clock),
            info=ResourceInfo("hotspot", ctx.target, ctx.method, f"hotspot:{h.key}"),
        )
        checks.append(HotspotCheck(limiter, key, h.key))
    return checks


register_check(HOTSPOTS.name, _factory)
