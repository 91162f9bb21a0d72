"""Tests for seawall.discovery.RoundRobinBalancer (nginx's smooth weighted round robin)."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from seawall.discovery import Instance, Pick, RoundRobinBalancer
from seawall.testing import MockClock

A = Instance("10.0.0.1", 80)
B = Instance("10.0.0.2", 80)
C = Instance("10.0.0.3", 80)
HEAVY = Instance("10.0.0.1", 80, weight=5)
NAMES = {A: "a", HEAVY: "a", B: "b", C: "c"}


class FixedOffset(random.Random):
    """An rng whose starting offset is chosen by the test."""

    def __init__(self, offset: int) -> None:
        super().__init__(0)
        self.offset = offset

    def getrandbits(self, k: int, /) -> int:
        return self.offset


def _balancer(*instances: Instance, offset: int = 0) -> RoundRobinBalancer:
    return RoundRobinBalancer(instances, rng=FixedOffset(offset), clock=MockClock())


def _pick(balancer: RoundRobinBalancer, exclude: frozenset[Instance] = frozenset()) -> Pick:
    pick = balancer.pick(exclude=exclude)
    assert pick is not None
    return pick


def _sequence(balancer: RoundRobinBalancer, n: int) -> str:
    out = []
    for _ in range(n):
        pick = _pick(balancer)
        pick.done(ok=True)
        out.append(NAMES[pick.instance])
    return " ".join(out)


def _effective(balancer: RoundRobinBalancer, instance: Instance) -> int | None:
    (s,) = [s for s in balancer.statistics().instances if s.instance == instance]
    return s.effective_weight


def test_nginx_published_sequence_for_5_1_1() -> None:
    """Weights {5, 1, 1} give nginx's smooth sequence a a b a c a a, and repeat it."""
    balancer = _balancer(HEAVY, B, C)
    assert _sequence(balancer, 14) == "a a b a c a a a a b a c a a"


def test_equal_weights_are_plain_round_robin() -> None:
    """With weight 1 everywhere, instances come in turn."""
    assert _sequence(_balancer(A, B, C), 6) == "a b c a b c"


def test_offset_rotates_the_starting_instance() -> None:
    """The rng's offset rotates the order: clients started together do not all begin on one instance."""
    assert _sequence(_balancer(A, B, C, offset=1), 4) == "b c a b"
    assert _sequence(_balancer(A, B, C, offset=5), 4) == "c a b c"


def test_seeded_rng_is_reproducible() -> None:
    """Two balancers with the same seed start at the same instance."""
    first = RoundRobinBalancer([A, B, C], rng=random.Random(5))
    second = RoundRobinBalancer([A, B, C], rng=random.Random(5))
    assert first.instances == second.instances


def test_excluded_instance_is_skipped_without_gaining_weight() -> None:
    """An excluded instance is skipped like a peer nginx already tried; the others keep alternating."""
    balancer = _balancer(A, B, C)
    picks = []
    for _ in range(4):
        pick = _pick(balancer, exclude=frozenset({B}))
        pick.done(ok=True)
        picks.append(NAMES[pick.instance])
    assert picks == ["a", "c", "a", "c"]
    # B's current weight did not grow while excluded, so it is not owed a burst of picks now.
    assert _sequence(balancer, 3) == "a b c"


def test_failure_drops_effective_weight_then_it_climbs_back() -> None:
    """As nginx with max_fails=1: a failed pick sets the effective weight to 0; it regains 1 per pick."""
    heavy = HEAVY
    balancer = _balancer(heavy, B, C)
    pick = _pick(balancer)
    assert pick.instance == heavy
    pick.done(ok=False)
    assert _effective(balancer, heavy) == 0
    seen = []
    for _ in range(6):
        _pick(balancer).done(ok=True)
        seen.append(_effective(balancer, heavy))
    assert seen == [1, 2, 3, 4, 5, 5]


def test_failure_shifts_traffic_away() -> None:
    """After a failure the instance gets fewer of the next picks than the same balancer without it."""

    def next_picks_of_heavy(*, ok: bool) -> int:
        balancer = _balancer(HEAVY, B, C)
        _pick(balancer).done(ok=ok)
        return Counter(_pick(balancer).instance for _ in range(6))[HEAVY]

    assert next_picks_of_heavy(ok=False) < next_picks_of_heavy(ok=True)


def test_failure_of_the_only_instance_changes_nothing() -> None:
    """With a single instance nginx records no failure weight: there is nowhere else to go."""
    balancer = _balancer(A)
    _pick(balancer).done(ok=False)
    assert _effective(balancer, A) == 1


@given(
    weights=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=8),
    offset=st.integers(min_value=0, max_value=2**32 - 1),
    warmup=st.integers(min_value=0, max_value=50),
)
def test_full_cycle_picks_each_instance_weight_times(weights: list[int], offset: int, warmup: int) -> None:
    """Over any sum(weights) consecutive picks (no failures), each instance is picked exactly its weight."""
    instances = [Instance(f"10.0.2.{i}", 80, weight=w) for i, w in enumerate(weights)]
    balancer = RoundRobinBalancer(instances, rng=FixedOffset(offset))
    for _ in range(warmup):
        _pick(balancer).done(ok=True)
    counts = Counter(_pick(balancer).instance for _ in range(sum(weights)))
    assert counts == {i: i.weight for i in instances}
