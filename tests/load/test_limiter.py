"""Tests for seawall.load's concurrency limiters: adaptive, partitioned, no-op, and their tickets."""

from __future__ import annotations

import dataclasses
import heapq
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.load import (
    AdaptiveConcurrencyLimiter,
    FixedLimit,
    LimitTicket,
    NoopConcurrencyLimiter,
    PartitionedLimiter,
    VegasLimit,
)
from seawall.testing import MockClock


class _Settable:
    """A Limit whose value the test sets, recording every sample it is fed."""

    def __init__(self, limit: int) -> None:
        self.value = limit
        self.samples: list[tuple[float, float, int, bool]] = []

    @property
    def limit(self) -> int:
        return self.value

    @property
    def rtt_noload(self) -> float:
        return 0.5

    def on_sample(self, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        self.samples.append((start, rtt, inflight, dropped))


def _limiter(limit: int = 2) -> tuple[AdaptiveConcurrencyLimiter, _Settable, MockClock]:
    clock = MockClock()
    algorithm = _Settable(limit)
    return AdaptiveConcurrencyLimiter(limit=algorithm, clock=clock), algorithm, clock


def _take(ticket: LimitTicket | None) -> LimitTicket:
    assert ticket is not None
    return ticket


# --- AdaptiveConcurrencyLimiter ---------------------------------------------------------------


def test_admits_up_to_the_limit_then_refuses() -> None:
    """With a limit of 2, two requests are admitted and the third is refused at once."""
    limiter, _, _ = _limiter(2)
    assert [limiter.try_acquire() is not None for _ in range(3)] == [True, True, False]
    assert limiter.in_flight == 2


def test_ending_a_request_makes_room() -> None:
    """Each outcome (success, dropped, ignore) gives the slot back."""
    limiter, _, _ = _limiter(1)
    for end in (LimitTicket.success, LimitTicket.dropped, LimitTicket.ignore):
        ticket = _take(limiter.try_acquire())
        assert limiter.try_acquire() is None
        end(ticket)
        assert limiter.in_flight == 0


def test_success_feeds_the_rtt_and_inflight_at_admission() -> None:
    """success() reports start, RTT measured on the clock from admission, and in-flight at admission."""
    limiter, algorithm, clock = _limiter(5)
    clock.jump(10.0)
    first = _take(limiter.try_acquire())
    second = _take(limiter.try_acquire())
    clock.jump(0.25)
    second.success()
    first.success()
    assert algorithm.samples == [(10.0, 0.25, 2, False), (10.0, 0.25, 1, False)]


def test_dropped_feeds_a_drop() -> None:
    """dropped() reports the sample with dropped=True."""
    limiter, algorithm, clock = _limiter(5)
    ticket = _take(limiter.try_acquire())
    clock.jump(1.0)
    ticket.dropped()
    assert algorithm.samples == [(0.0, 1.0, 1, True)]


def test_ignore_feeds_nothing() -> None:
    """ignore() ends the request without teaching the algorithm anything."""
    limiter, algorithm, _ = _limiter(5)
    _take(limiter.try_acquire()).ignore()
    assert algorithm.samples == []


def test_only_the_first_outcome_counts() -> None:
    """Later outcomes on a ticket are ignored: a finally-ignore after success is harmless."""
    limiter, algorithm, _ = _limiter(5)
    ticket = _take(limiter.try_acquire())
    assert not ticket.done
    ticket.success()
    ticket.ignore()
    ticket.dropped()
    assert ticket.done
    assert limiter.in_flight == 0
    assert len(algorithm.samples) == 1
    stats = limiter.statistics()
    assert (stats.succeeded, stats.dropped, stats.ignored) == (1, 0, 0)


def test_ticket_start_is_the_admission_time() -> None:
    """A ticket knows when it was admitted, on the limiter's clock."""
    limiter, _, clock = _limiter(5)
    clock.jump(3.0)
    assert _take(limiter.try_acquire()).start == 3.0


def test_a_new_limit_applies_to_the_next_admission() -> None:
    """Raising the limit admits more at once; lowering it refuses until in-flight falls under it."""
    limiter, algorithm, _ = _limiter(1)
    held = [_take(limiter.try_acquire())]
    algorithm.value = 3
    held += [_take(limiter.try_acquire()), _take(limiter.try_acquire())]
    algorithm.value = 1
    held.pop().success()
    held.pop().success()
    assert limiter.try_acquire() is None  # one in flight, limit one
    held.pop().success()
    assert limiter.try_acquire() is not None


def test_default_algorithm_is_a_damped_vegas() -> None:
    """Without a limit argument the limiter uses VegasLimit(initial_limit=10, smoothing=0.5)."""
    limiter = AdaptiveConcurrencyLimiter(clock=MockClock())
    algorithm = limiter.algorithm
    assert isinstance(algorithm, VegasLimit)
    assert algorithm.statistics().estimate == 10.0
    algorithm.on_sample(0.0, 0.01, 1, dropped=False)
    for _ in range(9):
        algorithm.on_sample(0.0, 0.01, 1, dropped=False)
    algorithm.on_sample(1.0, 0.05, 10, dropped=False)  # queue 8 > 6: -1, half of it applied
    assert algorithm.statistics().estimate == 9.5


def test_statistics_snapshot() -> None:
    """statistics() reports the limit, in-flight, the no-load RTT and every counter, frozen."""
    limiter, _, _ = _limiter(2)
    a, b = _take(limiter.try_acquire()), _take(limiter.try_acquire())
    limiter.try_acquire()
    a.success()
    b.dropped()
    _take(limiter.try_acquire()).ignore()
    _take(limiter.try_acquire())
    stats = limiter.statistics()
    assert stats.limit == 2
    assert stats.in_flight == 1
    assert stats.rtt_noload == 0.5
    assert (stats.admitted, stats.rejected) == (4, 1)
    assert (stats.succeeded, stats.dropped, stats.ignored) == (1, 1, 1)
    assert stats.partitions == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.limit = 0  # type: ignore[misc]


def test_repr() -> None:
    """repr names the algorithm and the in-flight count."""
    limiter = AdaptiveConcurrencyLimiter(limit=FixedLimit(3), clock=MockClock())
    assert repr(limiter) == "AdaptiveConcurrencyLimiter(limit=FixedLimit(3), in_flight=0)"
    assert repr(_take(limiter.try_acquire())) == "LimitTicket(start=0.0, done=False)"


def test_fixed_limit() -> None:
    """FixedLimit holds its value, keeps no RTT and ignores samples; it must be >= 1."""
    limit = FixedLimit(7)
    limit.on_sample(0.0, 1.0, 7, dropped=True)
    assert (limit.limit, limit.rtt_noload) == (7, 0.0)
    with pytest.raises(ValueError, match="limit must be >= 1"):
        FixedLimit(0)


_ops = st.lists(
    st.one_of(
        st.just(("acquire", 0)),
        st.tuples(st.just("end"), st.integers(0, 50)),
        st.tuples(st.just("limit"), st.integers(1, 12)),
        st.tuples(st.just("time"), st.integers(0, 100)),
    ),
    max_size=200,
)


@given(ops=_ops)
def test_admission_never_takes_in_flight_past_the_limit(ops: list[tuple[str, int]]) -> None:
    """Every try_acquire that admits leaves in-flight <= the limit at that moment."""
    limiter, algorithm, clock = _limiter(4)
    held: list[LimitTicket] = []
    for op, arg in ops:
        if op == "acquire":
            ticket = limiter.try_acquire()
            if ticket is not None:
                held.append(ticket)
                assert limiter.in_flight <= algorithm.value
            else:
                assert limiter.in_flight >= algorithm.value
        elif op == "end" and held:
            held.pop(arg % len(held)).success()
        elif op == "limit":
            algorithm.value = arg
        elif op == "time":
            clock.jump(arg / 1000)
        assert limiter.in_flight == len(held)


def test_bounds_in_flight_behind_a_saturated_dependency() -> None:
    """An awaiting handler behind an 8-wide, 20 ms dependency offered 2.5x its capacity.

    Arrivals every millisecond (1000/s against 400/s of capacity); with the default algorithm the
    limit settles a few requests above the dependency's width, every admitted request is served
    in under 2x its unloaded 20 ms instead of queueing without bound, and the dependency stays busy.
    """
    clock = MockClock()
    limiter = AdaptiveConcurrencyLimiter(clock=clock)
    events: list[tuple[float, int, str, LimitTicket | None]] = []
    waiting: deque[LimitTicket] = deque()
    busy = 0
    latencies: list[tuple[float, float]] = []
    limits: list[int] = []
    seq = 0
    for i in range(3000):
        heapq.heappush(events, (i * 0.001, seq, "arrive", None))
        seq += 1
    while events:
        t, _, kind, ticket = heapq.heappop(events)
        clock.jump(t - clock.now())
        if kind == "arrive":
            if t >= 1.0:
                limits.append(limiter.limit)
            ticket = limiter.try_acquire()
            if ticket is None:
                continue
            waiting.append(ticket)
        else:
            assert ticket is not None
            latencies.append((ticket.start, t - ticket.start))
            ticket.success()
            busy -= 1
        while waiting and busy < 8:
            busy += 1
            heapq.heappush(events, (clock.now() + 0.020, seq, "done", waiting.popleft()))
            seq += 1
    steady = [rtt for start, rtt in latencies if start >= 1.0]
    assert 11 <= min(limits) <= max(limits) <= 14
    assert max(steady) <= 0.040
    assert len(steady) / 2.0 >= 0.99 * 400  # goodput: the dependency stays busy


# --- PartitionedLimiter (vectors from Netflix AbstractPartitionedLimiterTest) -------------------


def _partitioned(limit: int = 10, **shares: float) -> PartitionedLimiter:
    return PartitionedLimiter(
        partitions=shares or {"batch": 0.3, "live": 0.7}, limit=FixedLimit(limit), clock=MockClock()
    )


def _partition(limiter: PartitionedLimiter, name: str) -> tuple[int, int]:
    """(guaranteed limit, in flight) of one partition."""
    for p in limiter.statistics().partitions:
        if p.name == name:
            return p.limit, p.in_flight
    raise AssertionError(name)


def test_limit_allocated_to_partitions() -> None:
    """limitAllocatedToBins: 30% and 70% of 10 are 3 and 7."""
    limiter = _partitioned()
    assert _partition(limiter, "batch")[0] == 3
    assert _partition(limiter, "live")[0] == 7


def test_guarantee_rounds_up_without_float_noise() -> None:
    """Each guarantee is ceil(limit * share), at least 1; 7% of 100 is 7, not 8 (100 * 0.07 > 7)."""
    limiter = _partitioned(100, a=0.07, b=0.005, c=0.0)
    assert [p.limit for p in limiter.statistics().partitions] == [7, 1, 1, 1]


def test_use_excess_capacity_until_total_limit() -> None:
    """useExcessCapacityUntilTotalLimit: one partition borrows the whole idle limit, then stops."""
    limiter = _partitioned()
    for i in range(10):
        assert limiter.try_acquire("batch") is not None
        assert _partition(limiter, "batch")[1] == i + 1
    assert limiter.try_acquire("batch") is None


def test_exceed_total_limit_for_unused_partition() -> None:
    """exceedTotalLimitForUnusedBin: with the limit borrowed away, live still gets its 7 guaranteed."""
    limiter = _partitioned()
    for _ in range(10):
        assert limiter.try_acquire("batch") is not None
    assert limiter.try_acquire("batch") is None
    for i in range(7):
        assert limiter.try_acquire("live") is not None
        assert _partition(limiter, "live")[1] == i + 1
    assert limiter.try_acquire("live") is None
    assert limiter.in_flight == 17


def test_reject_once_all_limits_reached() -> None:
    """rejectOnceAllLimitsReached: 3 batch + 7 live fill the limit; both are then refused."""
    limiter = _partitioned()
    for i in range(3):
        assert limiter.try_acquire("batch") is not None
        assert limiter.in_flight == i + 1
    for i in range(7):
        assert limiter.try_acquire("live") is not None
        assert limiter.in_flight == i + 4
    assert limiter.try_acquire("batch") is None
    assert limiter.try_acquire("live") is None


def test_release_limit() -> None:
    """releaseLimit: a completed borrowed request frees a slot that the same partition can take."""
    limiter = _partitioned()
    first = _take(limiter.try_acquire("batch"))
    for _ in range(9):
        assert limiter.try_acquire("batch") is not None
    assert limiter.try_acquire("batch") is None
    first.success()
    assert _partition(limiter, "batch")[1] == 9
    assert limiter.in_flight == 9
    assert limiter.try_acquire("batch") is not None
    assert limiter.in_flight == 10


def test_new_total_limit_resizes_partitions() -> None:
    """setLimitReservesBusy: the guarantees follow the algorithm's limit; in-flight is unchanged."""
    algorithm = _Settable(10)
    limiter = PartitionedLimiter(partitions={"batch": 0.3, "live": 0.7}, limit=algorithm, clock=MockClock())
    assert limiter.try_acquire("batch") is not None
    assert _partition(limiter, "batch") == (3, 1)
    algorithm.value = 20
    assert _partition(limiter, "batch") == (6, 1)
    assert limiter.limit == 20


def test_unknown_names_share_one_partition_with_one_slot() -> None:
    """Names without a partition go to "unknown": share 0, one guaranteed slot, borrowing allowed."""
    limiter = _partitioned(4, live=1.0)
    for _ in range(4):
        assert limiter.try_acquire("live") is not None
    assert limiter.try_acquire("whatever") is not None  # its one guaranteed slot
    assert limiter.try_acquire("other") is None
    assert _partition(limiter, "unknown") == (1, 1)


def test_a_configured_unknown_partition_takes_unlisted_names() -> None:
    """A partition named "unknown" receives every unlisted name, with its configured share."""
    limiter = _partitioned(10, live=0.5, unknown=0.5)
    names = [p.name for p in limiter.statistics().partitions]
    assert names == ["live", "unknown"]
    for _ in range(10):
        assert limiter.try_acquire("live") is not None
    for _ in range(5):
        assert limiter.try_acquire("anything") is not None
    assert limiter.try_acquire("anything") is None


def test_priority_keeps_its_share_under_saturation() -> None:
    """Normal traffic saturating the limit cannot crowd priority out of its guaranteed share."""
    limiter = _partitioned(10, priority=0.7, normal=0.3)
    normal = [limiter.try_acquire("normal") for _ in range(50)]
    assert sum(t is not None for t in normal) == 10
    priority = [limiter.try_acquire("priority") for _ in range(50)]
    assert sum(t is not None for t in priority) == 7
    # As normal requests finish, normal cannot take the freed slots back while over its share...
    for t in normal[:5]:
        _take(t).success()
    assert limiter.try_acquire("normal") is None
    # ...but priority, still at its share, gets nothing more either until the total is under the limit.
    assert limiter.in_flight == 12
    assert limiter.try_acquire("priority") is None


def test_borrowing_when_others_idle() -> None:
    """A partition may use all of an idle limit, beyond its own share."""
    limiter = _partitioned(10, priority=0.7, normal=0.3)
    assert sum(limiter.try_acquire("normal") is not None for _ in range(20)) == 10


def test_partition_samples_feed_the_algorithm() -> None:
    """Partitioned tickets report to the one shared algorithm, with the total in-flight."""
    algorithm = _Settable(10)
    clock = MockClock()
    limiter = PartitionedLimiter(partitions={"a": 0.5, "b": 0.5}, limit=algorithm, clock=clock)
    a = _take(limiter.try_acquire("a"))
    b = _take(limiter.try_acquire("b"))
    clock.jump(0.5)
    a.success()
    b.dropped()
    _take(limiter.try_acquire("a")).ignore()
    assert algorithm.samples == [(0.0, 0.5, 1, False), (0.0, 0.5, 2, True)]
    stats = limiter.statistics()
    assert (stats.succeeded, stats.dropped, stats.ignored, stats.in_flight) == (1, 1, 1, 0)
    assert [p.in_flight for p in stats.partitions] == [0, 0, 0]


def test_partition_statistics() -> None:
    """Per-partition admitted and rejected counts, in configuration order with unknown last."""
    limiter = _partitioned(2, a=0.5, b=0.5)
    limiter.try_acquire("a")
    limiter.try_acquire("a")
    limiter.try_acquire("a")
    limiter.try_acquire("b")
    stats = limiter.statistics()
    assert [(p.name, p.share, p.admitted, p.rejected) for p in stats.partitions] == [
        ("a", 0.5, 2, 1),
        ("b", 0.5, 1, 0),  # a borrowed b's slot, but b is still under its share
        ("unknown", 0.0, 0, 0),
    ]
    assert (stats.admitted, stats.rejected) == (3, 1)


def test_partitioned_default_algorithm_and_repr() -> None:
    """The default algorithm is VegasLimit; repr lists the partitions."""
    limiter = PartitionedLimiter(partitions={"a": 1.0}, clock=MockClock())
    assert isinstance(limiter.algorithm, VegasLimit)
    assert repr(limiter).startswith("PartitionedLimiter(partitions=['a', 'unknown'], limit=VegasLimit(")


@pytest.mark.parametrize(
    ("partitions", "message"),
    [
        ({}, "partitions must not be empty"),
        ({"": 0.5}, "partition names must be non-empty"),
        ({"a": -0.1}, r"share of partition 'a' must be in \[0, 1\]"),
        ({"a": 1.1}, r"share of partition 'a' must be in \[0, 1\]"),
        ({"a": float("nan")}, r"share of partition 'a' must be in \[0, 1\]"),
        ({"a": 0.6, "b": 0.5}, "partition shares must sum to <= 1"),
    ],
)
def test_partitioned_rejects_bad_arguments(partitions: dict[str, float], message: str) -> None:
    """Invalid partitions fail at construction with a precise message (Netflix: shares sum <= 1)."""
    with pytest.raises(ValueError, match=message):
        PartitionedLimiter(partitions=partitions, limit=FixedLimit(1))


def test_shares_of_thirds_sum_to_one() -> None:
    """Three shares of 1/3 are accepted despite float rounding."""
    limiter = PartitionedLimiter(partitions={"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, limit=FixedLimit(9))
    assert [p.limit for p in limiter.statistics().partitions] == [3, 3, 3, 1]


_partition_ops = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.sampled_from(["p", "n", "b", "x"])),
        st.tuples(st.just("end"), st.integers(0, 100)),
    ),
    max_size=300,
)


@given(ops=_partition_ops, limit=st.integers(1, 20))
def test_only_guaranteed_slots_go_past_the_limit(ops: list[tuple[str, object]], limit: int) -> None:
    """Admissions beyond the total limit are always within the partition's guaranteed share.

    Hence borrowed slots (in flight beyond a partition's guarantee) never exceed the limit, and
    the total never exceeds the limit plus the guarantees.
    """
    limiter = _partitioned(limit, p=0.5, n=0.3, b=0.2)
    held: list[LimitTicket] = []
    for op, arg in ops:
        if op == "acquire":
            ticket = limiter.try_acquire(str(arg))
            if ticket is not None:
                held.append(ticket)
                stats = limiter.statistics()
                if stats.in_flight > limit:
                    name = arg if arg in ("p", "n", "b") else "unknown"
                    guaranteed, in_flight = _partition(limiter, str(name))
                    assert in_flight <= guaranteed
        elif held:
            held.pop(int(str(arg)) % len(held)).success()
        stats = limiter.statistics()
        borrowed = sum(max(0, p.in_flight - p.limit) for p in stats.partitions)
        assert borrowed <= limit
        assert stats.in_flight <= limit + sum(p.limit for p in stats.partitions)
        assert stats.in_flight == sum(p.in_flight for p in stats.partitions) == len(held)


# --- NoopConcurrencyLimiter ---------------------------------------------------------------------


def test_noop_admits_everything_and_counts_nothing() -> None:
    """The no-op twin hands out one inert ticket, with or without a partition, and zero statistics."""
    limiter = NoopConcurrencyLimiter()
    first = _take(limiter.try_acquire())
    second = _take(limiter.try_acquire("priority"))
    assert first is second
    first.success()
    first.dropped()
    first.ignore()
    stats = limiter.statistics()
    assert (stats.admitted, stats.limit, stats.in_flight) == (0, 0, 0)
    assert repr(limiter) == "NoopConcurrencyLimiter()"
