"""Behaviour every balancer shares: the Balancer protocol, Pick's exactly-once outcome, exclusion,
state kept across updates, and in-flight accounting (run against each balancer)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.discovery import (
    Balancer,
    ConsistentHashBalancer,
    Instance,
    P2CEwmaBalancer,
    Pick,
    RoundRobinBalancer,
)
from seawall.testing import MockClock

A = Instance("10.0.0.1", 80)
B = Instance("10.0.0.2", 80)
C = Instance("10.0.0.3", 80)

Factory = Callable[[list[Instance], MockClock], Balancer]

FACTORIES: dict[str, Factory] = {
    "p2c": lambda instances, clock: P2CEwmaBalancer(instances, clock=clock, rng=random.Random(7)),
    "round_robin": lambda instances, clock: RoundRobinBalancer(instances, clock=clock, rng=random.Random(7)),
    "consistent_hash": lambda instances, clock: ConsistentHashBalancer(instances, clock=clock),
}

balancers = pytest.mark.parametrize("make", list(FACTORIES.values()), ids=list(FACTORIES))


def _pick(balancer: Balancer, key: str = "k", exclude: frozenset[Instance] = frozenset()) -> Pick:
    pick = balancer.pick(key=key, exclude=exclude)
    assert pick is not None
    return pick


def _in_flight(balancer: Balancer) -> dict[Instance, int]:
    return {s.instance: s.in_flight for s in balancer.statistics().instances}


@balancers
def test_satisfies_balancer_protocol(make: Factory) -> None:
    """Each balancer is a Balancer."""
    assert isinstance(make([A], MockClock()), Balancer)


@balancers
def test_empty_balancer_picks_none(make: Factory) -> None:
    """With no instance, pick answers None and counts a miss."""
    balancer = make([], MockClock())
    assert balancer.pick(key="k") is None
    assert balancer.statistics().misses == 1


@balancers
def test_everything_excluded_picks_none(make: Factory) -> None:
    """When every instance is excluded, pick answers None rather than an excluded instance."""
    balancer = make([A, B], MockClock())
    assert balancer.pick(key="k", exclude={A, B}) is None
    assert balancer.statistics().misses == 1


@balancers
def test_exclude_is_respected(make: Factory) -> None:
    """No pick ever returns an excluded instance."""
    balancer = make([A, B, C], MockClock())
    for i in range(50):
        pick = _pick(balancer, key=f"k{i}", exclude=frozenset({B}))
        assert pick.instance != B
        pick.done(ok=True)


@balancers
def test_pick_counts_in_flight_until_done(make: Factory) -> None:
    """A pick is in flight until done; done or cancel a second time changes nothing."""
    balancer = make([A], MockClock())
    pick = _pick(balancer)
    assert _in_flight(balancer) == {A: 1}
    pick.done(ok=False)
    pick.done(ok=False)
    pick.cancel()
    assert pick.finished
    stats = balancer.statistics().instances[0]
    assert (stats.in_flight, stats.failures, stats.picks) == (0, 1, 1)


@balancers
def test_cancel_leaves_in_flight_without_failure(make: Factory) -> None:
    """cancel ends the in-flight accounting and records no failure."""
    balancer = make([A], MockClock())
    pick = _pick(balancer)
    pick.cancel()
    pick.done(ok=False)
    stats = balancer.statistics().instances[0]
    assert (stats.in_flight, stats.failures) == (0, 0)


@balancers
def test_pick_start_is_on_the_clock(make: Factory) -> None:
    """Pick.start is the balancer clock's time of the pick."""
    clock = MockClock(start=42.0)
    assert _pick(make([A], clock)).start == 42.0


@balancers
def test_update_keeps_state_of_staying_instances(make: Factory) -> None:
    """Instances present before and after an update keep their counters; new ones start at zero."""
    balancer = make([A, B], MockClock())
    held = [_pick(balancer, key=f"k{i}") for i in range(6)]
    before = {s.instance: (s.picks, s.in_flight) for s in balancer.statistics().instances}
    balancer.update([B, C, A, A])
    after = {s.instance: (s.picks, s.in_flight) for s in balancer.statistics().instances}
    assert after == {**before, C: (0, 0)}
    for pick in held:
        pick.done(ok=True)
    assert set(_in_flight(balancer).values()) == {0}


@balancers
def test_removed_instance_is_never_picked(make: Factory) -> None:
    """After an update drops an instance, picks go only to the remaining ones."""
    balancer = make([A, B, C], MockClock())
    balancer.update([A, C])
    picked = {_pick(balancer, key=f"k{i}").instance for i in range(100)}
    assert picked <= {A, C}


@balancers
def test_statistics_count_picks(make: Factory) -> None:
    """statistics().picks counts picks answered, and per-instance picks add up to it."""
    balancer = make([A, B, C], MockClock())
    for i in range(30):
        _pick(balancer, key=f"k{i}").done(ok=True)
    stats = balancer.statistics()
    assert stats.picks == 30
    assert sum(s.picks for s in stats.instances) == 30


_ops = st.lists(
    st.tuples(st.sampled_from(["pick", "done", "fail", "cancel"]), st.integers(0, 50)), max_size=60
)


@balancers
@given(ops=_ops)
def test_in_flight_matches_outstanding_picks(make: Factory, ops: list[tuple[str, int]]) -> None:
    """For any interleaving of picks and outcomes, in-flight per instance equals the picks not yet ended."""
    balancer = make([A, B, C], MockClock())
    open_picks: list[Pick] = []
    for op, n in ops:
        if op == "pick":
            open_picks.append(_pick(balancer, key=f"k{n}"))
        elif open_picks:
            pick = open_picks.pop(n % len(open_picks))
            if op == "cancel":
                pick.cancel()
            else:
                pick.done(ok=op == "done")
    expected = Counter(p.instance for p in open_picks)
    assert _in_flight(balancer) == {i: expected[i] for i in (A, B, C)}


@balancers
def test_instances_are_deduplicated(make: Factory) -> None:
    """The instances property lists each instance once, whatever was passed to update."""
    balancer = make([A, B, A, C, B], MockClock())
    assert sorted(balancer.instances, key=str) == [A, B, C]
