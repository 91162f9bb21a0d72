"""The resolver interface (where a dependency's instances come from), its statistics, and the
static resolver.

A resolver is the seam between a source of instances (a config list, DNS, etcd later) and the
balancers: it holds the current set, tells subscribers when the set changes, and never empties
the set because its source failed (it keeps the last known instances and reports itself stale).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, final, runtime_checkable

from seawall.discovery._instance import Instance, normalize

__all__ = ["Resolver", "ResolverStatistics", "StaticResolver", "Subscriber"]

logger = logging.getLogger("seawall.discovery")

#: Called with the new set of instances (deduplicated, in a stable order) after each change.
Subscriber = Callable[[tuple[Instance, ...]], None]


@final
@dataclass(frozen=True, slots=True)
class ResolverStatistics:
    """A snapshot of a resolver, for metrics, logs and the dashboard.

    Attributes:
        instances: how many instances the resolver currently offers.
        refreshes: lookups attempted since creation (0 for a static resolver).
        errors: lookups that failed or answered nothing.
        changes: times the set of instances changed (subscribers were notified).
        last_error: what went wrong in the latest failed lookup, if the latest lookup failed.
        stale: whether the latest lookup failed, so the instances offered are the last known ones.
    """

    instances: int
    refreshes: int
    errors: int
    changes: int
    last_error: str | None
    stale: bool


@runtime_checkable
class Resolver(Protocol):
    """The instances of one dependency, kept current from some source.

    Implementations: :class:`StaticResolver`, :class:`DNSResolver` (an etcd resolver plugs in the
    same way). Rules every implementation keeps:

    - :attr:`instances` is never emptied by a failing source: the last known set stays, and
      :meth:`statistics` says ``stale=True`` (it is empty only before the first successful lookup);
    - subscribers are called with the whole new set, only when it changed, synchronously, and an
      exception in one subscriber is logged without stopping the others;
    - :meth:`start` does the first lookup before returning, so :attr:`instances` is usable at once;
      :meth:`aclose` stops any background work and may be called more than once.

    Example::

        resolver = DNSResolver("inventory.default.svc.cluster.local", 8080)
        balancer = P2CEwmaBalancer()
        async with resolver:
            unsubscribe = resolver.subscribe(balancer.update)
            ...
    """

    @property
    def instances(self) -> tuple[Instance, ...]:
        """The current instances, deduplicated, in a stable order."""
        ...

    async def start(self) -> None:
        """Look the instances up once and start following changes."""
        ...

    async def aclose(self) -> None:
        """Stop following changes; :attr:`instances` keeps its last value."""
        ...

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(instances)`` now and after every change; returns the unsubscribe function."""
        ...

    def statistics(self) -> ResolverStatistics:
        """A frozen snapshot of the resolver's state."""
        ...


@final
class Subscribers:
    """The subscriber list a resolver owns: add/remove, and notify each one, isolating failures."""

    __slots__ = ("_callbacks", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._callbacks: list[Subscriber] = []

    def add(self, callback: Subscriber, instances: tuple[Instance, ...]) -> Callable[[], None]:
        self._callbacks.append(callback)
        self._call(callback, instances)

        def unsubscribe() -> None:
            # Remove this registration only (the same callable may be subscribed twice).
            for i, registered in enumerate(self._callbacks):
                if registered is callback:
                    del self._callbacks[i]
                    return

        return unsubscribe

    def notify(self, instances: tuple[Instance, ...]) -> None:
        for callback in tuple(self._callbacks):
            self._call(callback, instances)

    def _call(self, callback: Subscriber, instances: tuple[Instance, ...]) -> None:
        try:
            callback(instances)
        except Exception:
            logger.exception("a subscriber of %s failed", self._name)


@final
class StaticResolver:
    """A fixed list of instances (from code or config); :meth:`update` replaces it.

    Use it for the embedded default (``dependencies: {inventory: {instances: [...]}}``) and in
    tests. Strings are parsed with :meth:`Instance.parse`.

    Example::

        resolver = StaticResolver(["10.0.0.1:8080", "10.0.0.2:8080"])
        resolver.subscribe(balancer.update)
    """

    __slots__ = ("_changes", "_instances", "_subscribers")

    def __init__(self, instances: Iterable[Instance | str]) -> None:
        self._instances = _coerce(instances)
        self._subscribers = Subscribers(f"StaticResolver({len(self._instances)} instances)")
        self._changes = 0

    @property
    def instances(self) -> tuple[Instance, ...]:
        return self._instances

    def update(self, instances: Iterable[Instance | str]) -> None:
        """Replace the instances (a config reload); subscribers hear of it only if the set changed."""
        new = _coerce(instances)
        if new != self._instances:
            self._instances = new
            self._changes += 1
            self._subscribers.notify(new)

    async def start(self) -> None:
        """Nothing to look up."""

    async def aclose(self) -> None:
        """Nothing to stop."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self._subscribers.add(callback, self._instances)

    def statistics(self) -> ResolverStatistics:
        return ResolverStatistics(
            instances=len(self._instances),
            refreshes=0,
            errors=0,
            changes=self._changes,
            last_error=None,
            stale=False,
        )

    def __repr__(self) -> str:
        return f"StaticResolver([{', '.join(i.address for i in self._instances)}])"


def _coerce(instances: Iterable[Instance | str]) -> tuple[Instance, ...]:
    if isinstance(instances, str):
        raise TypeError("instances must be an iterable of Instance or 'host:port' strings, not one str")
    result = normalize(Instance.parse(i) if isinstance(i, str) else i for i in instances)
    if not result:
        raise ValueError("instances must not be empty")
    return result
