"""The balancer interface, the pick a caller holds while its call runs, and the statistics snapshot.

The shape follows gRPC's balancer ``Picker`` as go-zero uses it (``zrpc/internal/balancer/p2c``):
``pick`` returns the chosen instance plus a ``done`` callback that feeds the outcome back, as
seawall's :class:`~seawall.load.ShedTicket` does for shedders.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, final, runtime_checkable

from seawall.discovery._instance import Instance

__all__ = ["Balancer", "BalancerStatistics", "InstanceStatistics", "Pick"]


class _Owner(Protocol):
    """What a pick reports to: the balancer that issued it."""

    def _finish(self, node: Any, start: float, ok: bool | None) -> None: ...


class Node:
    """Per-instance state every balancer keeps; balancers subclass it with their own fields."""

    __slots__ = ("failures", "in_flight", "instance", "picks")

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.in_flight = 0
        self.picks = 0
        self.failures = 0


@final
class Pick:
    """The instance a balancer chose for one call; report how the call ended exactly once.

    Call :meth:`done` when the call finished (``ok=False`` for a failure the balancer should
    learn from: a 5xx, a timeout, a refused connection), or :meth:`cancel` when it ended without
    saying anything about the instance (the caller gave up, a 4xx). Either ends the call's
    in-flight accounting; later calls are ignored, so a ``finally: pick.cancel()`` after a
    ``done()`` is harmless. Latency is measured on the balancer's clock from the pick to ``done``.

    Example::

        pick = balancer.pick(exclude=detector.ejected())
        if pick is None:
            raise NoInstance(...)
        try:
            response = await send(pick.instance)
            pick.done(ok=response.status_code < 500)
        except httpx.TransportError:
            pick.done(ok=False)
            raise
        finally:
            pick.cancel()  # a no-op unless the call was cancelled before done()
    """

    __slots__ = ("_node", "_owner", "_start", "instance")

    def __init__(self, owner: _Owner | None, node: object, instance: Instance, start: float) -> None:
        self._owner = owner
        self._node = node
        self._start = start
        #: The chosen instance.
        self.instance = instance

    @property
    def start(self) -> float:
        """When the pick was made, on the balancer's clock."""
        return self._start

    @property
    def finished(self) -> bool:
        """Whether :meth:`done` or :meth:`cancel` was already called."""
        return self._owner is None

    def done(self, ok: bool) -> None:
        """The call ended: ``ok`` says whether it succeeded; its latency is recorded."""
        owner = self._owner
        if owner is not None:
            self._owner = None
            owner._finish(self._node, self._start, bool(ok))

    def cancel(self) -> None:
        """The call ended without a meaningful outcome; only leave the in-flight count."""
        owner = self._owner
        if owner is not None:
            self._owner = None
            owner._finish(self._node, self._start, None)

    def __repr__(self) -> str:
        return f"Pick({self.instance.address}, finished={self.finished!r})"


@final
@dataclass(frozen=True, slots=True)
class InstanceStatistics:
    """One instance as a balancer sees it.

    Attributes:
        instance: the instance.
        in_flight: picks not yet done or cancelled.
        picks: picks since the instance joined the balancer.
        failures: picks done with ``ok=False``.
        latency: smoothed (EWMA) latency in seconds, where the balancer keeps one (p2c).
        success: smoothed success rate in [0, 1], where the balancer keeps one (p2c).
        load: the balancer's load score, where it has one (p2c: lower is preferred).
        effective_weight: the current weight, where it moves (smooth weighted round robin).
    """

    instance: Instance
    in_flight: int
    picks: int
    failures: int
    latency: float | None = None
    success: float | None = None
    load: float | None = None
    effective_weight: int | None = None


@final
@dataclass(frozen=True, slots=True)
class BalancerStatistics:
    """A snapshot of a balancer, for metrics, logs and the dashboard.

    Attributes:
        instances: per-instance figures, in the balancer's stable instance order.
        picks: picks answered with an instance since creation.
        misses: picks answered with ``None`` (no instance, or every one excluded).
        forced: picks of an instance only because it had not been picked for a while (p2c).
    """

    instances: tuple[InstanceStatistics, ...]
    picks: int
    misses: int
    forced: int = 0


@runtime_checkable
class Balancer(Protocol):
    """Chooses an instance for each call, learning from how calls end.

    :class:`P2CEwmaBalancer` (the default), :class:`RoundRobinBalancer` and
    :class:`ConsistentHashBalancer` satisfy it. A balancer is fed by a resolver
    (``resolver.subscribe(balancer.update)``) and consulted once per attempt; a retry passes the
    instances already tried, plus the ejected ones, as ``exclude``.

    Not thread-safe: use one balancer per event loop, as the call path does.
    """

    @property
    def instances(self) -> tuple[Instance, ...]:
        """The instances picks choose from, deduplicated, in the balancer's stable order."""
        ...

    def update(self, instances: Iterable[Instance]) -> None:
        """Replace the instance set; instances that stay keep their state."""
        ...

    def pick(self, *, key: str | None = None, exclude: Collection[Instance] = ()) -> Pick | None:
        """Choose an instance not in ``exclude``; ``None`` when none is available.

        ``key`` routes by affinity where the balancer supports it (consistent hashing requires it;
        the others ignore it).
        """
        ...

    def statistics(self) -> BalancerStatistics:
        """A frozen snapshot of the balancer's state."""
        ...
