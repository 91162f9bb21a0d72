"""Smooth weighted round robin, as nginx balances an ``upstream`` block.

Semantics follow nginx's ``ngx_http_upstream_round_robin.c`` (``ngx_http_upstream_get_peer``):
on each pick every candidate's ``current_weight`` grows by its ``effective_weight``, the largest
wins and gives back the total. Weights {5, 1, 1} give ``a a b a c a a`` (nginx's published
example), not ``a a a a a b c``; with equal weights it is plain round robin.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable
from typing import final

from seawall._clock import MONOTONIC, Clock
from seawall.discovery._balancer import BalancerStatistics, InstanceStatistics, Node, Pick
from seawall.discovery._instance import Instance, normalize

__all__ = ["RoundRobinBalancer"]


@final
class _RRNode(Node):
    __slots__ = ("current", "effective", "weight")

    def __init__(self, instance: Instance) -> None:
        super().__init__(instance)
        self.weight = instance.weight
        self.effective = instance.weight
        self.current = 0


@final
class RoundRobinBalancer:
    """Takes instances in turn, each as often as its weight, spread out (nginx's smooth WRR).

    Use it where instances are alike and calls cost the same, or to split traffic by weight
    (``Instance(..., weight=5)``). Over any ``sum(weights)`` consecutive picks with no failures and
    no exclusions, each instance is picked exactly ``weight`` times.

    Like nginx (with its default ``max_fails=1``), a pick done with ``ok=False`` drops the
    instance's effective weight to 0, from where it climbs back by one per pick; instances in
    ``exclude`` are skipped the way nginx skips peers already tried. nginx's own disabling of a
    failing peer for ``fail_timeout`` is :class:`OutlierDetector`'s job here.

    Instances are kept in a stable order, rotated by an offset drawn from ``rng`` once, so that
    many clients started together do not all begin with the same instance.

    Args:
        instances: the initial instances.
        rng: draws the starting offset.
        clock: stamps :attr:`Pick.start`.

    Example::

        balancer = RoundRobinBalancer([Instance("a", 80, weight=5), Instance("b", 80)])
        pick = balancer.pick()
    """

    __slots__ = ("_misses", "_nodes", "_now", "_offset", "_picks")

    def __init__(
        self,
        instances: Iterable[Instance] = (),
        *,
        rng: random.Random | None = None,
        clock: Clock = MONOTONIC,
    ) -> None:
        self._now = clock.now
        self._offset = (rng if rng is not None else random.Random()).getrandbits(32)
        self._nodes: list[_RRNode] = []
        self._picks = 0
        self._misses = 0
        self.update(instances)

    @property
    def instances(self) -> tuple[Instance, ...]:
        """The instances in the order the tie-breaks follow (the rotated stable order)."""
        return tuple(node.instance for node in self._nodes)

    def update(self, instances: Iterable[Instance]) -> None:
        old = {node.instance: node for node in self._nodes}
        ordered = normalize(instances)
        if ordered:
            k = self._offset % len(ordered)
            ordered = ordered[k:] + ordered[:k]
        self._nodes = [old.get(i) or _RRNode(i) for i in ordered]

    def pick(self, *, key: str | None = None, exclude: Collection[Instance] = ()) -> Pick | None:
        """The next instance in smooth weighted order, skipping ``exclude`` (``key`` is ignored)."""
        best: _RRNode | None = None
        total = 0
        for node in self._nodes:
            if exclude and node.instance in exclude:
                continue
            node.current += node.effective
            total += node.effective
            if node.effective < node.weight:
                node.effective += 1
            if best is None or node.current > best.current:
                best = node
        if best is None:
            self._misses += 1
            return None
        best.current -= total
        best.in_flight += 1
        best.picks += 1
        self._picks += 1
        return Pick(self, best, best.instance, self._now())

    # Called by Pick (the _Owner protocol), not by users.
    def _finish(self, node: _RRNode, start: float, ok: bool | None) -> None:
        node.in_flight -= 1
        if ok is False:
            node.failures += 1
            # nginx: effective_weight -= weight / max_fails (max_fails=1), floored at 0; but with a
            # single peer nginx records nothing, as there is no other peer to shift traffic to.
            if len(self._nodes) > 1:
                node.effective = 0

    def statistics(self) -> BalancerStatistics:
        return BalancerStatistics(
            instances=tuple(
                InstanceStatistics(
                    instance=node.instance,
                    in_flight=node.in_flight,
                    picks=node.picks,
                    failures=node.failures,
                    effective_weight=node.effective,
                )
                for node in self._nodes
            ),
            picks=self._picks,
            misses=self._misses,
        )

    def __repr__(self) -> str:
        return f"RoundRobinBalancer(instances={len(self._nodes)!r})"
