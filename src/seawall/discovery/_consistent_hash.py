"""Consistent hashing with virtual nodes: the same key goes to the same instance.

A ring of 64-bit points, ``vnodes * weight`` per instance (nginx's ``hash ... consistent`` and
ketama use 160 points per unit of weight); a key goes to the first point clockwise from its hash.
When an instance joins or leaves, only the keys of the arcs it gains or loses move (about 1/N of
them), which keeps caches warm and pins hot keys to one instance.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Collection, Iterable
from typing import final

from seawall._clock import MONOTONIC, Clock
from seawall.discovery._balancer import BalancerStatistics, InstanceStatistics, Node, Pick
from seawall.discovery._instance import Instance, normalize

__all__ = ["ConsistentHashBalancer", "blake2b64"]


def blake2b64(data: bytes) -> int:
    """A stable 64-bit hash (BLAKE2b, 8-byte digest): the same in every process, unlike ``hash()``."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


@final
class _HashNode(Node):
    __slots__ = ("points",)

    def __init__(self, instance: Instance, points: list[int]) -> None:
        super().__init__(instance)
        self.points = points


@final
class ConsistentHashBalancer:
    """Routes each key to the same instance while the instance set stays, moving ~1/N keys on a change.

    Use it for cache affinity (each instance caches its share of the keys) or to isolate a hot key
    on one instance. ``pick(key=...)`` is required. An instance's points are the hashes of
    ``"{address}#{i}"`` for ``i < vnodes * weight``, so they depend only on its address and weight,
    and any process computes the same ring. With ``exclude``, the walk goes on clockwise to the
    next point of an instance not excluded (a retry lands where that key would go if the excluded
    instance left the ring).

    Args:
        instances: the initial instances.
        vnodes: points on the ring per unit of weight (more points, more even shares).
        hash: maps bytes to a non-negative int, stable across processes (BLAKE2b-64 by default).
        clock: stamps :attr:`Pick.start`.

    Example::

        balancer = ConsistentHashBalancer(instances)
        pick = balancer.pick(key=user_id)
    """

    __slots__ = ("_hash", "_misses", "_nodes", "_now", "_owners", "_picks", "_points", "_vnodes")

    def __init__(
        self,
        instances: Iterable[Instance] = (),
        *,
        vnodes: int = 160,
        hash: Callable[[bytes], int] = blake2b64,
        clock: Clock = MONOTONIC,
    ) -> None:
        if isinstance(vnodes, bool) or not isinstance(vnodes, int) or vnodes < 1:
            raise ValueError("vnodes must be an int >= 1")
        self._vnodes = vnodes
        self._hash = hash
        self._now = clock.now
        self._nodes: list[_HashNode] = []
        self._points: list[int] = []
        self._owners: list[_HashNode] = []
        self._picks = 0
        self._misses = 0
        self.update(instances)

    @property
    def instances(self) -> tuple[Instance, ...]:
        """The instances on the ring."""
        return tuple(node.instance for node in self._nodes)

    def update(self, instances: Iterable[Instance]) -> None:
        old = {node.instance: node for node in self._nodes}
        self._nodes = [old.get(i) or _HashNode(i, self._points_of(i)) for i in normalize(instances)]
        # Ties (equal 64-bit points) go to the instance earlier in the stable order.
        ring = sorted((point, rank) for rank, node in enumerate(self._nodes) for point in node.points)
        self._points = [point for point, _ in ring]
        self._owners = [self._nodes[rank] for _, rank in ring]

    def _points_of(self, instance: Instance) -> list[int]:
        address = instance.address
        return [self._hash(f"{address}#{i}".encode()) for i in range(self._vnodes * instance.weight)]

    def pick(self, *, key: str | None = None, exclude: Collection[Instance] = ()) -> Pick | None:
        """The instance owning ``key``'s arc, or the next one clockwise not in ``exclude``.

        Raises:
            ValueError: ``key`` is None (a consistent-hash pick needs a key).
        """
        if key is None:
            raise ValueError("ConsistentHashBalancer.pick needs a key")
        points = self._points
        size = len(points)
        chosen: _HashNode | None = None
        if size:
            start = bisect.bisect_left(points, self._hash(key.encode()))
            if not exclude:
                chosen = self._owners[start % size]
            else:
                for step in range(size):
                    node = self._owners[(start + step) % size]
                    if node.instance not in exclude:
                        chosen = node
                        break
        if chosen is None:
            self._misses += 1
            return None
        chosen.in_flight += 1
        chosen.picks += 1
        self._picks += 1
        return Pick(self, chosen, chosen.instance, self._now())

    def owner(self, key: str) -> Instance | None:
        """The instance ``key`` maps to now (no pick is counted); ``None`` on an empty ring."""
        if not self._points:
            return None
        start = bisect.bisect_left(self._points, self._hash(key.encode()))
        return self._owners[start % len(self._points)].instance

    # Called by Pick (the _Owner protocol), not by users.
    def _finish(self, node: _HashNode, start: float, ok: bool | None) -> None:
        node.in_flight -= 1
        if ok is False:
            node.failures += 1

    def statistics(self) -> BalancerStatistics:
        return BalancerStatistics(
            instances=tuple(
                InstanceStatistics(
                    instance=node.instance, in_flight=node.in_flight, picks=node.picks, failures=node.failures
                )
                for node in self._nodes
            ),
            picks=self._picks,
            misses=self._misses,
        )

    def __repr__(self) -> str:
        return f"ConsistentHashBalancer(instances={len(self._nodes)!r}, vnodes={self._vnodes!r})"
