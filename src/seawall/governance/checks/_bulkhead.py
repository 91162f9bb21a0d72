"""``bulkhead``: bounded concurrency with a bounded, time-limited wait queue (503 when full)."""

from __future__ import annotations

from typing import Final, final

import msgspec

from seawall.bulkhead import Bulkhead
from seawall.errors import Overloaded
from seawall.governance._call import Call, Outcome
from seawall.governance._check import CompileContext, Exit, register_check
from seawall.governance._policy import Policy, Section, define_section, validate_struct
from seawall.governance._registry import ResourceInfo
from seawall.governance.checks._types import Count, Seconds, Size

__all__ = ["BULKHEAD", "BulkheadCheck", "BulkheadPolicy"]


class BulkheadPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """At most ``max_concurrent`` running; up to ``max_queue`` more wait up to ``max_wait`` s."""

    max_concurrent: Count
    max_queue: Size = 0
    max_wait: Seconds = 0.0

    def __post_init__(self) -> None:
        validate_struct(self)


#: A bulkhead on the route.
BULKHEAD: Final[Section[BulkheadPolicy | None]] = define_section(
    "bulkhead", BulkheadPolicy | None, None, "bounded concurrency + wait queue (503 when full)"
)


@final
class BulkheadCheck:
    """Takes a slot of the :class:`Bulkhead`, waiting in its queue; 503 when full or the wait runs out."""

    __slots__ = ("_leave", "bulkhead")
    name = "bulkhead"
    cost = 45
    wants_outcome = False  # the exit only gives the slot back

    def __init__(self, bulkhead: Bulkhead) -> None:
        self.bulkhead = bulkhead
        self._leave: Exit = self._release  # bound once, not per call

    async def enter_async(self, call: Call) -> Exit | None:
        if self.bulkhead.try_acquire() or await self.bulkhead.acquire():
            return self._leave
        raise Overloaded("bulkhead full", retry_after=max(self.bulkhead.max_wait, 1.0), check=self.name)

    def _release(self, outcome: Outcome) -> None:
        self.bulkhead.release()


def _factory(policy: Policy, ctx: CompileContext) -> BulkheadCheck | None:
    b = policy[BULKHEAD]
    if b is None:
        return None
    clock = ctx.clock
    bulkhead = ctx.registry.obtain(
        ctx.resource_key("bulkhead", b),
        lambda: Bulkhead(
            max_concurrent=b.max_concurrent, max_queue=b.max_queue, max_wait=b.max_wait, clock=clock
        ),
        info=ResourceInfo("bulkhead", ctx.target, ctx.method, BulkheadCheck.name),
    )
    return BulkheadCheck(bulkhead)


register_check(BULKHEAD.name, _factory)
