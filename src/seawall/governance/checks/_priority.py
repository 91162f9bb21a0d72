"""``priority``: traffic classes, and what each is guaranteed under overload.

This section configures no check of its own; it orders the decisions that support classes:

- ``adaptive_concurrency``: each class keeps a guaranteed share of what the route group's limit
  admits instead of competing with everyone for it (Netflix concurrency-limits
  ``AbstractPartitionedLimiter``; see :class:`~seawall.load.PartitionedLimiter`);
- ``shedding``: each class is guaranteed ``max(1, ceil(max_flight * share))`` of the requests the
  shedder lets in flight (:class:`~seawall.governance.checks.ShedPartitions`);
- ``queue_delay``: the classes' order (their order in ``shares``) ranks requests in its adaptive
  LIFO, so on an overloaded event loop a request yields only to newer requests of its class or a
  higher one, and a class kept under its share of recent admissions comes first
  (bench/overload.py, ``seawall_priority_cpu``: 20 % critical traffic at 3x capacity, 99.8-99.9 %
  of it answered).

Its factory only validates the section, so that a bad ``key`` is reported at
``$.routes["GET /x"].priority.key``. ``SheddingPolicy(priority=True)`` is separate: go-zero's
higher CPU threshold for a whole route.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Annotated, Final, final

import msgspec

from seawall.governance._call import Call
from seawall.governance._check import CompileContext, register_check
from seawall.governance._policy import Policy, Section, define_section
from seawall.governance.checks._types import Key

__all__ = ["PRIORITY", "Classifier", "PriorityPolicy", "Ranker", "classifier", "ranker"]

#: A traffic class's name: what a ``key`` value must equal to select it.
ClassName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
#: A guaranteed fraction of the decision's limit.
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]

#: Computes the traffic class of a call.
Classifier = Callable[[Call], str]


class PriorityPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Traffic classes with guaranteed shares of the route group's admission decision.

    Each class is guaranteed ``max(1, ceil(limit * share))`` of the decision's in-flight limit; a
    class may borrow beyond its share while the total is under the limit; at the limit only the
    classes still under their share are admitted (Netflix partitioned-limiter semantics). Give the
    classes in priority order; shares sum to at most 1.

    Attributes:
        shares: class name to guaranteed share, e.g. ``{"critical": 0.8, "normal": 0.2}``.
        default: the class of this route's calls (and of calls whose ``key`` names no class).
        key: where a call may name its own class (``header:x-priority``, ``fn:tier``...); a
            value that is not a class name leaves the call in ``default``.

    Example (``seawall.yaml``)::

        default:
          adaptive_concurrency: {group: api}
          priority: {shares: {critical: 0.8, normal: 0.2}, default: normal, key: "header:x-priority"}
        routes:
          "POST /checkout":
            priority: {shares: {critical: 0.8, normal: 0.2}, default: critical}

    Routes share a partitioned decision when their shares are equal (and, for
    ``adaptive_concurrency``, their group and limit configuration).
    """

    shares: dict[ClassName, Share]
    default: ClassName
    key: Key | None = None

    def __post_init__(self) -> None:
        if not self.shares:
            raise ValueError("shares must name at least one class")
        for name, share in self.shares.items():
            if not 0 <= share <= 1:  # msgspec checks this when decoding, not when built in code
                raise ValueError(f"shares must be in [0, 1] ({name!r} is {share!r})")
        if sum(self.shares.values()) > 1 + 1e-9:
            raise ValueError("shares must sum to <= 1")
        if self.default not in self.shares:
            raise ValueError(f"default must be one of the classes in shares, not {self.default!r}")


#: Traffic classes of the route's calls (partitions the decisions that support them).
PRIORITY: Final[Section[PriorityPolicy | None]] = define_section(
    "priority",
    PriorityPolicy | None,
    None,
    "traffic classes (shares of adaptive_concurrency and shedding, order of queue_delay's LIFO)",
)


def classifier(p: PriorityPolicy, ctx: CompileContext) -> Classifier:
    """The function giving a call's class under ``p``.

    Raises:
        FieldError: ``key`` names no registered key function (field ``key``).
    """
    default = p.default
    if p.key is None:
        return _Constant(default)
    return _Keyed(ctx.key(p.key), frozenset(p.shares), default)


@final
class _Constant:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, call: Call) -> str:
        return self.name


@final
class _Keyed:
    __slots__ = ("classes", "default", "key")

    def __init__(self, key: Callable[[Call], Hashable], classes: frozenset[str], default: str) -> None:
        self.key = key
        self.classes = classes
        self.default = default

    def __call__(self, call: Call) -> str:
        value = self.key(call)
        return value if value in self.classes else self.default


@final
class Ranker:
    """A call's traffic class rank under a :class:`PriorityPolicy`: its class's position in
    ``shares`` (0 is the first, most important class)."""

    __slots__ = ("classify", "ranks")

    def __init__(self, classify: Classifier, ranks: dict[str, int]) -> None:
        self.classify = classify
        self.ranks = ranks

    def __call__(self, call: Call) -> int:
        return self.ranks[self.classify(call)]


def ranker(p: PriorityPolicy, ctx: CompileContext) -> Ranker:
    """The :class:`Ranker` of ``p`` (its ``key`` resolved through ``ctx``)."""
    return Ranker(classifier(p, ctx), {name: i for i, name in enumerate(p.shares)})


def shares_key(p: PriorityPolicy) -> tuple[tuple[str, float], ...]:
    """The shares as a hashable registry-key part (order kept: it is the display order)."""
    return tuple(p.shares.items())


def _factory(policy: Policy, ctx: CompileContext) -> None:
    p = policy[PRIORITY]
    if p is not None:
        classifier(p, ctx)  # a bad key fails here, named as priority.key


register_check(PRIORITY.name, _factory)
