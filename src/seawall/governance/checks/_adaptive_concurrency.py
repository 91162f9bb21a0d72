"""``adaptive_concurrency``: a concurrency limit that adapts to the latency the route sees (503 beyond).

Adapts :class:`~seawall.load.AdaptiveConcurrencyLimiter` (or, with a ``priority`` section,
:class:`~seawall.load.PartitionedLimiter`), one per route, or one per ``group`` shared by every
route naming it.
"""

from __future__ import annotations

import random
from typing import Annotated, Final, Literal, final

import msgspec

from seawall.errors import Overloaded
from seawall.governance._call import Call, Outcome
from seawall.governance._check import CompileContext, Exit, register_check
from seawall.governance._policy import Policy, Section, define_section, validate_struct
from seawall.governance._registry import ResourceInfo
from seawall.governance.checks._priority import PRIORITY, Classifier, classifier, shares_key
from seawall.governance.checks._types import Count
from seawall.load import (
    AdaptiveConcurrencyLimiter,
    Gradient2Limit,
    Limit,
    LimitTicket,
    PartitionedLimiter,
    VegasLimit,
)

__all__ = ["ADAPTIVE_CONCURRENCY", "AdaptiveConcurrencyCheck", "AdaptiveConcurrencyPolicy"]

#: A group name: routes naming the same group share one limiter.
GroupName = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
#: The weight of a new limit against the old, in (0, 1].
Smoothing = Annotated[float, msgspec.Meta(gt=0, le=1)]


class AdaptiveConcurrencyPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An adaptive concurrency limit: at most ``limit`` calls in flight, where the limit follows
    the latency the route sees against its no-load latency (503 ``OVERLOADED`` beyond).

    ``algorithm`` is ``vegas`` (:class:`~seawall.load.VegasLimit`: holds a queue of a few requests
    in front of the bottleneck; Netflix ``VegasLimit`` with Envoy-style no-load probes) or
    ``gradient2`` (:class:`~seawall.load.Gradient2Limit`: holds the latency within 1.5x of its
    long-term average; Netflix ``Gradient2Limit``). The defaults are seawall's
    :func:`~seawall.load.default_limit` (Vegas, initial 10, smoothing 0.5; Netflix: 20, 1.0).

    Use it where the bottleneck is not this process's CPU (a connection pool, a slow dependency,
    a database): CPU-based shedding never starts there, and a fixed ``max_conns`` is right for
    one load only. On an event loop a CPU-bound handler runs to completion once started, so the
    in-flight count of such a route stays about 1 and no limit binds: use ``queue_delay`` for it.

    Attributes:
        algorithm: ``vegas`` or ``gradient2``.
        initial_limit: the limit before the algorithm has learned anything.
        min_limit: the floor of the limit.
        max_limit: the ceiling of the limit.
        smoothing: weight of each new limit against the old one.
        group: routes with the same group (and configuration) share one limiter, e.g. every
            route that queries the same database; ``None``: one limiter per route and method.
    """

    algorithm: Literal["vegas", "gradient2"] = "vegas"
    initial_limit: Count = 10
    min_limit: Count = 1
    max_limit: Count = 1000
    smoothing: Smoothing = 0.5
    group: GroupName | None = None

    def __post_init__(self) -> None:
        validate_struct(self)
        if self.max_limit < self.min_limit:
            raise ValueError("max_limit must be >= min_limit")
        if not self.min_limit <= self.initial_limit <= self.max_limit:
            raise ValueError("initial_limit must be in [min_limit, max_limit]")

    def build(self, rng: random.Random | None = None) -> Limit:
        """A new algorithm instance with this configuration (``rng``: Vegas's probe jitter)."""
        if self.algorithm == "gradient2":
            return Gradient2Limit(
                initial_limit=self.initial_limit,
                min_limit=self.min_limit,
                max_limit=self.max_limit,
                smoothing=self.smoothing,
            )
        return VegasLimit(
            initial_limit=self.initial_limit,
            min_limit=self.min_limit,
            max_limit=self.max_limit,
            smoothing=self.smoothing,
            rng=rng,
        )


#: An adaptive concurrency limit on the route (or its group).
ADAPTIVE_CONCURRENCY: Final[Section[AdaptiveConcurrencyPolicy | None]] = define_section(
    "adaptive_concurrency",
    AdaptiveConcurrencyPolicy | None,
    None,
    "adaptive concurrency limit (Vegas / Gradient2; 503 beyond)",
)


def _rejection(limit: int) -> Overloaded:
    return Overloaded(f"{limit} requests already in flight", retry_after=1.0, check="adaptive_concurrency")


@final
class AdaptiveConcurrencyCheck:
    """503 when the adaptive limit's slots are taken; teaches the limit each admitted call's outcome.

    Outcomes (Netflix ``Limiter.Listener``): an answer below 500 is ``success`` (its latency is a
    sample); a timeout, or a rejection raised by the work itself (a downstream limit or breaker
    said no), is ``dropped`` (the algorithm backs off); an error (a 5xx is a bug, not a latency),
    a cancelled call (the client went away) or a call that a later check refused before it ran
    is ``ignore`` (it only leaves the in-flight count).
    """

    __slots__ = ("limiter",)
    name = "adaptive_concurrency"
    #: After the rate limits (20-24): a rate-limited call should not hold a slot even briefly.
    cost = 26

    def __init__(self, limiter: AdaptiveConcurrencyLimiter) -> None:
        self.limiter = limiter

    def enter(self, call: Call) -> Exit | None:
        ticket = self.limiter.try_acquire()
        if ticket is None:
            raise _rejection(self.limiter.limit)
        return _Report(ticket)


@final
class PartitionedConcurrencyCheck:
    """:class:`AdaptiveConcurrencyCheck` with traffic classes (a ``priority`` section): each
    class is guaranteed its share of the limit and may borrow what others leave unused."""

    __slots__ = ("classify", "limiter")
    name = "adaptive_concurrency"
    cost = 26

    def __init__(self, limiter: PartitionedLimiter, classify: Classifier) -> None:
        self.limiter = limiter
        self.classify = classify

    def enter(self, call: Call) -> Exit | None:
        ticket = self.limiter.try_acquire(self.classify(call))
        if ticket is None:
            raise _rejection(self.limiter.limit)
        return _Report(ticket)


@final
class _Report:
    __slots__ = ("ticket",)

    def __init__(self, ticket: LimitTicket) -> None:
        self.ticket = ticket

    def __call__(self, outcome: Outcome) -> None:
        kind = outcome.kind
        if kind == "ok":
            self.ticket.success()
        elif kind == "timeout" or (kind == "rejected" and outcome.end > outcome.start):
            self.ticket.dropped()
        else:  # error, cancelled, or refused by a later check before it ran
            self.ticket.ignore()


def _factory(
    policy: Policy, ctx: CompileContext
) -> AdaptiveConcurrencyCheck | PartitionedConcurrencyCheck | None:
    a = policy[ADAPTIVE_CONCURRENCY]
    if a is None:
        return None
    p = policy[PRIORITY]
    clock = ctx.clock
    config = msgspec.structs.replace(a, group=None)
    if a.group is not None:
        key: tuple[object, ...] = ("adaptive_concurrency", a.group, repr(config))
        info = ResourceInfo("concurrency_limiter", "", "", f"adaptive_concurrency:{a.group}")
    else:
        key = ctx.resource_key("adaptive_concurrency", config)
        info = ResourceInfo("concurrency_limiter", ctx.target, ctx.method, AdaptiveConcurrencyCheck.name)
    if p is None:
        plain = ctx.registry.obtain(
            key, lambda: AdaptiveConcurrencyLimiter(limit=config.build(ctx.rng), clock=clock), info=info
        )
        return AdaptiveConcurrencyCheck(plain)
    shares = p.shares
    partitioned = ctx.registry.obtain(
        (*key, "partitions", shares_key(p)),
        lambda: PartitionedLimiter(partitions=shares, limit=config.build(ctx.rng), clock=clock),
        info=info,
    )
    return PartitionedConcurrencyCheck(partitioned, classifier(p, ctx))


register_check(ADAPTIVE_CONCURRENCY.name, _factory)
