"""Power of two choices over EWMA latency: the default balancer.

Semantics follow go-zero's ``zrpc/internal/balancer/p2c/p2c.go`` (itself after Finagle's
``p2cPeakEwma``): draw two distinct instances at random, prefer both healthy, and send the call
to the one with the lower ``load = sqrt(lag + 1) * (in_flight + 1)``, where ``lag`` is an EWMA of
latency in nanoseconds decaying with a 10 s time constant, unless the other one has not been
picked for over a second (``forcePick``), so that a slow instance is probed again and its stale
latency can recover.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable
from typing import Final, final

from seawall._clock import MONOTONIC, Clock
from seawall.discovery._balancer import BalancerStatistics, InstanceStatistics, Node, Pick
from seawall.discovery._instance import Instance, normalize

__all__ = ["P2CEwmaBalancer"]

#: go-zero's ``pickTimes``: random pairs drawn before settling for one with an unhealthy side.
_PICK_TIMES: Final = 3
#: go-zero's ``throttleSuccess`` (initSuccess / 2) on a 0..1 scale: at or below it, unhealthy.
_HEALTHY_SUCCESS: Final = 0.5
_NS: Final = 1e9


@final
class _P2CNode(Node):
    __slots__ = ("lag", "last", "picked_at", "success")

    def __init__(self, instance: Instance) -> None:
        super().__init__(instance)
        self.lag = 0.0  # EWMA latency, seconds
        self.success = 1.0  # EWMA success rate (go-zero's initSuccess=1000 on a 0..1 scale)
        self.last: float | None = None  # when the last sample was recorded
        self.picked_at = -math.inf  # never picked: go-zero's zero ``pick`` stamp

    def load(self) -> float:
        # go-zero: sqrt(lag_ns + 1) * (inflight + 1); the "+ 1"s keep a fresh node's load at 1.
        return math.sqrt(self.lag * _NS + 1.0) * (self.in_flight + 1)


@final
class P2CEwmaBalancer:
    """Sends each call to the less loaded of two random instances, by EWMA latency and in-flight calls.

    Adapts within a few calls to a slow or overloaded instance without any configuration, which
    makes it the default for calls to other services (go-zero's ``p2c_ewma``).

    Per pick: two distinct instances are drawn at random (up to three draws, until both have a
    smoothed success rate above 0.5); the one with the lower load is chosen, unless the more
    loaded one was last picked more than ``force_pick`` seconds ago, in which case that one is
    chosen. With a single candidate it is chosen. On :meth:`Pick.done`, with ``w =
    exp(-elapsed_since_last_sample / decay)`` (0 for the first sample), ``lag = lag*w +
    latency*(1-w)`` and ``success = success*w + ok*(1-w)``.

    Differences from go-zero, on purpose: two candidates are always drawn at random (go-zero takes
    its two conns in map order), so ties do not favour one instance; :meth:`Pick.cancel` only
    leaves the in-flight count (go-zero records a cancelled call's latency as a success); latency
    is kept in float seconds and the load is not truncated to an integer; instances that stay
    across :meth:`update` keep their state (go-zero rebuilds the picker from scratch).

    Args:
        instances: the initial instances (more come through :meth:`update`).
        decay: the EWMA time constant in seconds (go-zero/Finagle: 10).
        force_pick: seconds after which an instance not picked is chosen even if more loaded (1).
        clock: measures latency and idle time.
        rng: draws the candidates; pass ``random.Random(seed)`` for reproducible picks.

    Example::

        balancer = P2CEwmaBalancer([Instance("10.0.0.1", 80), Instance("10.0.0.2", 80)])
        pick = balancer.pick()
        ...
        pick.done(ok=True)
    """

    __slots__ = ("_decay", "_force_pick", "_forced", "_misses", "_nodes", "_now", "_picks", "_rng")

    def __init__(
        self,
        instances: Iterable[Instance] = (),
        *,
        decay: float = 10.0,
        force_pick: float = 1.0,
        clock: Clock = MONOTONIC,
        rng: random.Random | None = None,
    ) -> None:
        if not (decay > 0 and math.isfinite(decay)):
            raise ValueError("decay must be > 0 and finite")
        if not (force_pick >= 0 and not math.isnan(force_pick)):
            raise ValueError("force_pick must be >= 0 (inf disables forced picks)")
        self._decay = decay
        self._force_pick = force_pick
        self._now = clock.now
        self._rng = rng if rng is not None else random.Random()
        self._nodes: list[_P2CNode] = []
        self._picks = 0
        self._misses = 0
        self._forced = 0
        self.update(instances)

    @property
    def instances(self) -> tuple[Instance, ...]:
        """The instances picks choose from."""
        return tuple(node.instance for node in self._nodes)

    def update(self, instances: Iterable[Instance]) -> None:
        old = {node.instance: node for node in self._nodes}
        self._nodes = [old.get(i) or _P2CNode(i) for i in normalize(instances)]

    def pick(self, *, key: str | None = None, exclude: Collection[Instance] = ()) -> Pick | None:
        """The less loaded of two random instances not in ``exclude`` (``key`` is ignored)."""
        nodes = self._nodes
        if exclude:
            nodes = [node for node in nodes if node.instance not in exclude]
        n = len(nodes)
        if n == 0:
            self._misses += 1
            return None
        now = self._now()
        if n == 1:
            chosen = nodes[0]
            chosen.picked_at = now
        else:
            randrange = self._rng.randrange
            for _ in range(_PICK_TIMES):
                a = randrange(n)
                b = randrange(n - 1)
                if b >= a:
                    b += 1
                first, second = nodes[a], nodes[b]
                if first.success > _HEALTHY_SUCCESS and second.success > _HEALTHY_SUCCESS:
                    break
            chosen = self._choose(first, second, now)
        chosen.in_flight += 1
        chosen.picks += 1
        self._picks += 1
        return Pick(self, chosen, chosen.instance, now)

    def _choose(self, first: _P2CNode, second: _P2CNode, now: float) -> _P2CNode:
        if first.load() > second.load():
            first, second = second, first
        # ``first`` is the less loaded; the other wins only if it has been left alone too long.
        if now - second.picked_at > self._force_pick:
            second.picked_at = now
            self._forced += 1
            return second
        first.picked_at = now
        return first

    # Called by Pick (the _Owner protocol), not by users.
    def _finish(self, node: _P2CNode, start: float, ok: bool | None) -> None:
        node.in_flight -= 1
        if ok is None:
            return
        if not ok:
            node.failures += 1
        now = self._now()
        latency = max(0.0, now - start)
        last, node.last = node.last, now
        w = 0.0 if last is None else math.exp(-max(0.0, now - last) / self._decay)
        node.lag = node.lag * w + latency * (1.0 - w)
        node.success = node.success * w + (1.0 if ok else 0.0) * (1.0 - w)

    def statistics(self) -> BalancerStatistics:
        return BalancerStatistics(
            instances=tuple(
                InstanceStatistics(
                    instance=node.instance,
                    in_flight=node.in_flight,
                    picks=node.picks,
                    failures=node.failures,
                    latency=node.lag,
                    success=node.success,
                    load=node.load(),
                )
                for node in self._nodes
            ),
            picks=self._picks,
            misses=self._misses,
            forced=self._forced,
        )

    def __repr__(self) -> str:
        return f"P2CEwmaBalancer(instances={len(self._nodes)!r}, decay={self._decay!r})"
