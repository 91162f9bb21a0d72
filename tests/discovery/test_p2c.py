"""Tests for seawall.discovery.P2CEwmaBalancer (go-zero's p2c_ewma semantics)."""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter

import pytest

from seawall.discovery import Instance, P2CEwmaBalancer, Pick
from seawall.testing import MockClock

A = Instance("10.0.0.1", 80)
B = Instance("10.0.0.2", 80)
C = Instance("10.0.0.3", 80)
SEEDS = range(5)


def _pick(balancer: P2CEwmaBalancer) -> Pick:
    pick = balancer.pick()
    assert pick is not None
    return pick


def _stats(balancer: P2CEwmaBalancer, instance: Instance) -> tuple[float, float, float]:
    (s,) = [s for s in balancer.statistics().instances if s.instance == instance]
    assert s.latency is not None
    assert s.success is not None
    assert s.load is not None
    return s.latency, s.success, s.load


def _simulate(
    balancer: P2CEwmaBalancer,
    clock: MockClock,
    latency: dict[Instance, float],
    *,
    calls: int,
    concurrency: int,
    failing: frozenset[Instance] = frozenset(),
) -> Counter[Instance]:
    """Closed-loop clients: each sends its next call as soon as the previous one completes."""
    picks: Counter[Instance] = Counter()
    running: list[tuple[float, int, Pick]] = []
    for n in range(calls):
        if len(running) == concurrency:
            end, _, finished = heapq.heappop(running)
            clock.jump(end - clock.now())
            finished.done(ok=finished.instance not in failing)
        pick = _pick(balancer)
        picks[pick.instance] += 1
        heapq.heappush(running, (clock.now() + latency[pick.instance], n, pick))
    return picks


@pytest.mark.parametrize("seed", SEEDS)
def test_slow_instance_gets_far_fewer_picks(seed: int) -> None:
    """With one instance 50x slower, it gets under 2% of the calls (a fair share would be 33%)."""
    clock = MockClock()
    balancer = P2CEwmaBalancer([A, B, C], clock=clock, rng=random.Random(seed))
    picks = _simulate(balancer, clock, {A: 0.001, B: 0.001, C: 0.05}, calls=3000, concurrency=8)
    assert picks[C] < 0.02 * 3000, (seed, picks)
    assert abs(picks[A] - picks[B]) < 0.1 * 3000, (seed, picks)


@pytest.mark.parametrize("seed", SEEDS)
def test_equal_instances_share_evenly(seed: int) -> None:
    """Instances with the same latency get about the same number of calls."""
    clock = MockClock()
    balancer = P2CEwmaBalancer([A, B, C], clock=clock, rng=random.Random(seed))
    picks = _simulate(balancer, clock, {A: 0.01, B: 0.01, C: 0.01}, calls=3000, concurrency=8)
    assert all(800 < picks[i] < 1200 for i in (A, B, C)), (seed, picks)


@pytest.mark.parametrize("seed", SEEDS)
def test_failing_instance_is_avoided(seed: int) -> None:
    """An instance whose success EWMA is <= 0.5 is redrawn away from: under 2% of calls (fair: 10%)."""
    instances = [Instance(f"10.0.1.{i}", 80) for i in range(10)]
    clock = MockClock()
    balancer = P2CEwmaBalancer(instances, clock=clock, rng=random.Random(seed))
    bad = instances[0]
    latency = dict.fromkeys(instances, 0.001)
    picks = _simulate(balancer, clock, latency, calls=3000, concurrency=4, failing=frozenset({bad}))
    assert picks[bad] < 0.02 * 3000, (seed, picks[bad])
    assert _stats(balancer, bad)[1] <= 0.5


def test_in_flight_calls_count_in_the_load() -> None:
    """With equal latency, held calls alternate between two instances (load grows with in-flight)."""
    clock = MockClock()
    balancer = P2CEwmaBalancer([A, B], clock=clock, rng=random.Random(3))
    for _ in range(2):  # both picked once, so no forced pick below
        _pick(balancer).done(ok=True)
    assert {s.picks for s in balancer.statistics().instances} == {1}
    held = [_pick(balancer) for _ in range(10)]
    assert Counter(p.instance for p in held) == {A: 5, B: 5}


def test_load_formula() -> None:
    """load = sqrt(lag_ns + 1) * (in_flight + 1): 100 µs of lag and one call in flight give 2*sqrt(100001)."""
    clock = MockClock()
    balancer = P2CEwmaBalancer([A], clock=clock)
    pick = _pick(balancer)
    clock.jump(0.0001)
    pick.done(ok=True)
    held = _pick(balancer)
    latency, _, load = _stats(balancer, A)
    assert latency == pytest.approx(0.0001)
    assert load == pytest.approx(2 * math.sqrt(100_001), rel=1e-6)
    held.cancel()
    assert _stats(balancer, A)[2] == pytest.approx(math.sqrt(100_001), rel=1e-6)


def test_fresh_instance_has_load_one() -> None:
    """A new instance has no lag and nothing in flight: load 1, success 1."""
    balancer = P2CEwmaBalancer([A], clock=MockClock())
    assert _stats(balancer, A) == (0.0, 1.0, 1.0)


def test_ewma_decays_with_time_between_samples() -> None:
    """First sample sets lag and success; the next blends with w = exp(-elapsed / 10 s)."""
    clock = MockClock()
    balancer = P2CEwmaBalancer([A], clock=clock)
    pick = _pick(balancer)
    clock.jump(0.1)
    pick.done(ok=True)
    assert _stats(balancer, A)[:2] == (pytest.approx(0.1), 1.0)
    pick = _pick(balancer)
    clock.jump(10.0)
    pick.done(ok=False)
    w = math.exp(-1.0)
    latency, success, _ = _stats(balancer, A)
    assert latency == pytest.approx(0.1 * w + 10.0 * (1 - w))
    assert success == pytest.approx(w)


def test_decay_is_configurable() -> None:
    """A shorter decay forgets faster: with decay=1 s the same 10 s gap weighs the old sample by e^-10."""
    clock = MockClock()
    balancer = P2CEwmaBalancer([A], clock=clock, decay=1.0)
    pick = _pick(balancer)
    clock.jump(0.1)
    pick.done(ok=True)
    pick = _pick(balancer)
    clock.jump(10.0)
    pick.done(ok=True)
    assert _stats(balancer, A)[0] == pytest.approx(0.1 * math.exp(-10) + 10.0 * (1 - math.exp(-10)))


def test_cancel_does_not_touch_the_ewma() -> None:
    """A cancelled call says nothing about the instance: lag and success stay as they were."""
    clock = MockClock()
    balancer = P2CEwmaBalancer([A], clock=clock)
    pick = _pick(balancer)
    clock.jump(0.01)
    pick.done(ok=True)
    before = _stats(balancer, A)
    pick = _pick(balancer)
    clock.jump(5.0)
    pick.cancel()
    assert _stats(balancer, A) == before


def _warm_two(clock: MockClock, balancer: P2CEwmaBalancer) -> tuple[Instance, Instance]:
    """Pick X (0.5 s call) then Y (instant call): X ends slow, Y fast, both picked, now = 0.5."""
    first = _pick(balancer)
    clock.jump(0.5)
    first.done(ok=True)
    second = _pick(balancer)
    assert second.instance != first.instance
    second.done(ok=True)
    return first.instance, second.instance


@pytest.mark.parametrize("seed", SEEDS)
def test_force_pick_after_one_second_idle(seed: int) -> None:
    """The more loaded instance is chosen once it has not been picked for more than 1 s, and not at 1 s."""
    clock = MockClock()
    balancer = P2CEwmaBalancer([A, B], clock=clock, rng=random.Random(seed))
    slow, fast = _warm_two(clock, balancer)  # slow last picked at t=0
    forced = balancer.statistics().forced
    clock.jump(0.5)  # t = 1.0: exactly one second, not more
    at_one_second = _pick(balancer)
    at_one_second.cancel()
    assert at_one_second.instance == fast
    clock.jump(0.0625)
    probe = _pick(balancer)
    assert probe.instance == slow
    assert balancer.statistics().forced == forced + 1
    probe.cancel()
    assert _pick(balancer).instance == fast  # the probe reset its idle time


@pytest.mark.parametrize("seed", SEEDS)
def test_slow_instance_is_probed_about_once_per_second(seed: int) -> None:
    """Under steady traffic a much slower instance is picked only by forced picks, >1 s apart."""
    clock = MockClock()
    balancer = P2CEwmaBalancer([A, B], clock=clock, rng=random.Random(seed))
    slow, _ = _warm_two(clock, balancer)
    slow_picks: list[float] = []
    for _ in range(400):  # 20 s of one call every 50 ms
        pick = _pick(balancer)
        if pick.instance == slow:
            slow_picks.append(clock.now())
        clock.jump(0.05)
        pick.done(ok=True)
    gaps = [b - a for a, b in zip([0.0, *slow_picks], slow_picks, strict=False)]
    assert 15 <= len(slow_picks) <= 20
    assert all(1.0 < gap <= 1.05 + 1e-9 for gap in gaps), gaps


def test_force_pick_can_be_disabled() -> None:
    """force_pick=inf never picks the more loaded instance of a pair."""
    clock = MockClock()
    balancer = P2CEwmaBalancer([A, B], clock=clock, rng=random.Random(1), force_pick=math.inf)
    _, fast = _warm_two(clock, balancer)
    for _ in range(50):
        clock.jump(2.0)
        pick = _pick(balancer)
        assert pick.instance == fast
        pick.cancel()


def test_single_instance_is_always_picked() -> None:
    """With one candidate (alone, or the others excluded) it is picked whatever its load."""
    clock = MockClock()
    balancer = P2CEwmaBalancer([A, B], clock=clock, rng=random.Random(0))
    held = [balancer.pick(exclude={B}) for _ in range(5)]
    assert {p.instance for p in held if p is not None} == {A}
    assert balancer.statistics().forced == 0


def test_picks_are_reproducible_with_a_seed() -> None:
    """The same seed and the same history give the same picks."""

    def run() -> list[Instance]:
        clock = MockClock()
        balancer = P2CEwmaBalancer([A, B, C], clock=clock, rng=random.Random(99))
        out = []
        for i in range(100):
            pick = _pick(balancer)
            out.append(pick.instance)
            clock.jump(0.001 * (i % 7))
            pick.done(ok=i % 5 != 0)
        return out

    assert run() == run()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"decay": 0.0}, "decay must be > 0 and finite"),
        ({"decay": math.inf}, "decay must be > 0 and finite"),
        ({"force_pick": -1.0}, "force_pick must be >= 0"),
        ({"force_pick": math.nan}, "force_pick must be >= 0"),
    ],
)
def test_invalid_config(kwargs: dict[str, float], message: str) -> None:
    """Configuration is checked at construction."""
    with pytest.raises(ValueError, match=message):
        P2CEwmaBalancer([A], **kwargs)  # type: ignore[arg-type]
