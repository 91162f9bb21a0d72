"""``max_conns``: at most N calls in flight on a target, rejected at once beyond (503)."""

from __future__ import annotations

from typing import Final, final

from seawall.errors import Overloaded
from seawall.governance._call import Call, Outcome
from seawall.governance._check import CompileContext, Exit, register_check
from seawall.governance._policy import Policy, Section, define_section
from seawall.governance._registry import ResourceInfo
from seawall.governance.checks._types import Count
from seawall.limit import ConcurrencyLimit

__all__ = ["MAX_CONNS", "ConcurrencyCheck"]

#: Concurrent calls admitted (go-zero ``MaxConns``); ``None`` for no limit.
MAX_CONNS: Final[Section[int | None]] = define_section(
    "max_conns", Count | None, 10_000, "calls in flight on this route (503 beyond)"
)


@final
class ConcurrencyCheck:
    """Rejects with 503 when the limit's slots are all taken (adapts :class:`ConcurrencyLimit`).

    go-zero's ``maxconnshandler.go`` rejects at once rather than queueing: under overload a queue
    only adds latency (a bounded wait queue is the bulkhead's job).
    """

    __slots__ = ("_leave", "limit")
    name = "concurrency"
    cost = 10
    wants_outcome = False  # the exit only gives the slot back

    def __init__(self, limit: ConcurrencyLimit) -> None:
        self.limit = limit
        self._leave: Exit = self._exit  # bound once, not per call

    def enter(self, call: Call) -> Exit | None:
        if self.limit.try_acquire():
            return self._leave
        raise Overloaded(f"{self.limit.limit} requests already in flight", retry_after=1.0, check=self.name)

    def _exit(self, outcome: Outcome) -> None:
        self.limit.release()


def _factory(policy: Policy, ctx: CompileContext) -> ConcurrencyCheck | None:
    n = policy[MAX_CONNS]
    if n is None:
        return None
    limit = ctx.registry.obtain(
        ctx.resource_key("concurrency", n),
        lambda: ConcurrencyLimit(limit=n),
        info=ResourceInfo("concurrency", ctx.target, ctx.method, ConcurrencyCheck.name),
    )
    return ConcurrencyCheck(limit)


register_check(MAX_CONNS.name, _factory)
