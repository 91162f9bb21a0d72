"""The governance chain: checks compiled from a policy and run cheapest-first before a handler.

A check's ``enter(scope)`` either raises a :class:`~seawall.errors.Rejected` (the request does not
run) or returns ``None`` or an *exit* callable that is called with the final status after the
handler (accounting: release a slot, record a latency). Checks that must wait (a bulkhead queue,
pacing, a Redis round trip) are async and run after every sync check.

A compiled :class:`Chain` is immutable; recompiling swaps a route's chain in one assignment, so a
request in flight keeps the chain (and exits) it entered with and none is dropped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, final, runtime_checkable

from seawall.errors import Overloaded, Rejected
from seawall.http._policy import Policy

if TYPE_CHECKING:
    from seawall.http._checks import Governance

__all__ = [
    "AsyncCheck",
    "Chain",
    "Check",
    "CheckFactory",
    "ConcurrencyCheck",
    "Exit",
    "RouteInfo",
    "admit",
    "compile_chain",
]

Scope = MutableMapping[str, Any]
Exit = Callable[[int], None]


@runtime_checkable
class Check(Protocol):
    """A synchronous admission check."""

    name: str
    cost: int  # lower runs earlier; a plain counter is ~10, a limiter ~20, a shedder ~30

    def enter(self, scope: Scope) -> Exit | None: ...


@runtime_checkable
class AsyncCheck(Protocol):
    """An admission check that may wait; runs after all sync checks."""

    name: str
    cost: int

    def enter_async(self, scope: Scope) -> Awaitable[Exit | None]: ...


@final
@dataclass(frozen=True, slots=True)
class RouteInfo:
    """What a check factory knows about the route it compiles for."""

    route: str
    method: str
    service: str
    governance: Governance


#: Builds zero or one check for a route from its policy.
CheckFactory = Callable[[Policy, RouteInfo], Check | AsyncCheck | None]


@final
@dataclass(frozen=True, slots=True)
class Chain:
    """A compiled, immutable chain: sync checks, then async checks, cheapest first."""

    checks: tuple[Check, ...]
    async_checks: tuple[AsyncCheck, ...]
    policy: Policy

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.checks] + [c.name for c in self.async_checks]

    @property
    def empty(self) -> bool:
        return not self.checks and not self.async_checks


@final
class ConcurrencyCheck:
    """Rejects with 503 when ``limit`` requests are already in flight (go-zero ``MaxConns``).

    go-zero's ``maxconnshandler.go`` rejects at once rather than queueing: under overload a queue
    only adds latency. (A bounded wait queue is the bulkhead's job.)
    """

    __slots__ = ("in_flight", "limit", "rejected")
    name = "concurrency"
    cost = 10

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.in_flight = 0
        self.rejected = 0

    def enter(self, scope: Scope) -> Exit | None:
        if self.in_flight >= self.limit:
            self.rejected += 1
            raise Overloaded(f"{self.limit} requests already in flight", retry_after=1.0, check=self.name)
        self.in_flight += 1
        return self._exit

    def _exit(self, status: int) -> None:
        self.in_flight -= 1


def compile_chain(policy: Policy, route: RouteInfo, factories: Sequence[CheckFactory]) -> Chain:
    """Build a route's chain from its policy: every factory's check, sorted by cost."""
    built = [c for f in factories if (c := f(policy, route)) is not None]
    sync = sorted((c for c in built if isinstance(c, Check)), key=lambda c: c.cost)
    waiting = sorted((c for c in built if not isinstance(c, Check)), key=lambda c: c.cost)
    return Chain(tuple(sync), tuple(waiting), policy)


def admit(chain: Chain, scope: Scope) -> list[Exit]:
    """Run the chain's sync checks, cheapest first; the exits of the checks that admitted.

    On a rejection the exits taken so far are released (with the rejection's status) before the
    :class:`Rejected` propagates. The async checks are :func:`admit_async`'s.
    """
    exits: list[Exit] = []
    try:
        for check in chain.checks:
            if (ex := check.enter(scope)) is not None:
                exits.append(ex)  # noqa: PERF401 - a loop that stops at the first rejection
    except Rejected as exc:
        for ex in exits:
            ex(exc.status)
        raise
    return exits


async def admit_async(chain: Chain, scope: Scope, exits: list[Exit]) -> None:
    """Run the chain's async checks after :func:`admit`, adding to ``exits``.

    Whatever ends admission early (a rejection, or cancellation while a check waited) releases
    every exit taken, including :func:`admit`'s, before it propagates.
    """
    try:
        for check in chain.async_checks:
            if (ex := await check.enter_async(scope)) is not None:
                exits.append(ex)  # noqa: PERF401
    except BaseException as exc:
        status = exc.status if isinstance(exc, Rejected) else 499  # 499: the client went away
        for ex in exits:
            ex(status)
        raise
