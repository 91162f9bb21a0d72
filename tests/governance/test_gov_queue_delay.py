"""``queue_delay``: CoDel admission and adaptive LIFO in the request path, on the mock clock.

Requests that arrive together queue behind each other's CPU work on the event loop; the check
measures each one's wait (admission to resumption) and rejects, before the handler runs, the
requests that waited too long, and while a queue builds up the ones newer requests wait behind.
"""

from __future__ import annotations

import asyncio

import pytest
from tests.governance.asgi_support import Client, burner, burst, request, scope
from tests.governance.gov_support import check, client, endpoint, samples

from seawall import ConfigError, Policy, Service, SheddingPolicy
from seawall.governance import PriorityPolicy, QueueDelayPolicy
from seawall.governance.checks import QueueAwareCpu, QueueDelayCheck
from seawall.governance.checks._queue_delay import LIFO_HOLD_INTERVALS, LIFO_SPELL_TARGETS, LoopQueue
from seawall.http._config import SeawallConfig
from seawall.load import CoDel, FixedCpuProbe
from seawall.testing import MockClock

#: 1 ms target (slough 2 ms), 2 ms interval: a 2 ms handler ahead of a request is one too many.
TIGHT = QueueDelayPolicy(target=0.001, interval=0.002)


def cpu_bound(clock: MockClock, policy: Policy, work: float = 0.002) -> tuple[Service, list[int]]:
    """A service whose ``/work`` burns ``work`` seconds of (mock) CPU; returns it and a run log."""
    svc = Service("qd", clock=clock, cpu_probe=FixedCpuProbe(0))
    burn = burner(clock, work)
    ran: list[int] = []

    @svc.get("/work", policy=policy)
    async def work_() -> dict[str, bool]:
        ran.append(1)
        burn()
        return {"ok": True}

    return svc, ran


def codel(svc: Service) -> CoDel:
    found: CoDel = check(endpoint(svc, "/work"), "queue_delay").codel
    return found


def loop_queue(svc: Service) -> LoopQueue:
    found: LoopQueue = check(endpoint(svc, "/work"), "queue_delay").queue
    return found


def overload(gate: CoDel, clock: MockClock) -> None:
    """Drive ``gate`` into overload as a standing queue does: for two intervals every request it
    sees waited over twice its target."""
    for _ in range(5):
        gate.should_reject(3 * gate.target)
        clock.jump(gate.interval / 2)
    assert gate.overloaded


async def test_a_lone_request_is_admitted(mock_clock: MockClock) -> None:
    """With nothing ahead of it on the loop, a request waits no time and runs."""
    svc, ran = cpu_bound(mock_clock, Policy(queue_delay=TIGHT))
    assert await request(svc) == 200
    assert ran == [1]
    stats = codel(svc).statistics()
    assert (stats.checked, stats.rejected, stats.min_delay) == (1, 0, 0.0)


async def test_a_loop_that_keeps_up_is_sampled(mock_clock: MockClock) -> None:
    """After a prompt measurement, requests within ``target / 2`` skip the yield; the first one
    after it measures again."""
    svc, ran = cpu_bound(mock_clock, Policy(queue_delay=TIGHT), work=0.0)
    for _ in range(5):
        assert await request(svc) == 200
    assert codel(svc).statistics().checked == 1  # the first measured, the other four skipped
    mock_clock.jump(0.0005)  # target / 2 of TIGHT
    assert await request(svc) == 200
    assert codel(svc).statistics().checked == 2
    assert len(ran) == 6


async def test_one_request_measures_for_a_burst_while_the_loop_keeps_up(mock_clock: MockClock) -> None:
    """Once the loop measured prompt, of a burst arriving together only the first one measures
    (it covers the window the others are admitted in)."""
    svc, ran = cpu_bound(mock_clock, Policy(queue_delay=TIGHT), work=0.0)
    assert await request(svc) == 200
    mock_clock.jump(0.001)
    await burst(svc, 10)
    assert codel(svc).statistics().checked == 2
    assert len(ran) == 11


async def test_a_first_burst_is_measured_whole(mock_clock: MockClock) -> None:
    """Before any prompt measurement every request of a burst measures its own wait."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT), work=0.0)
    await burst(svc, 10)
    assert codel(svc).statistics().checked == 10


async def test_a_delay_of_half_the_target_keeps_every_request_measured(mock_clock: MockClock) -> None:
    """Handlers of ``target / 2`` ahead of a request: each request measures its own wait."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT), work=0.0005)
    await burst(svc, 2)  # the 2nd waited 0.5 ms for the 1st: no sampling window opens
    assert await request(svc) == 200
    assert codel(svc).statistics().checked == 3


async def test_an_overloaded_gate_measures_every_request(mock_clock: MockClock) -> None:
    """While the gate is overloaded even prompt requests measure (and feed the recovery)."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT))
    svc.get("/fast", policy=Policy(queue_delay=TIGHT))(lambda: {"ok": True})  # shares the gate
    gate = codel(svc)
    overload(gate, mock_clock)
    before = gate.statistics().checked
    for _ in range(3):  # prompt, but the gate is still overloaded: each one measured
        assert await request(svc, "/fast") == 200
    assert gate.overloaded
    assert gate.statistics().checked == before + 3


async def test_a_wait_longer_than_the_interval_is_shed_before_the_handler_runs(mock_clock: MockClock) -> None:
    """Ten requests arrive together, each handler burns 2 ms: the 1st runs at once, the 2nd after
    one handler (2 ms: within the 2 ms interval); the 3rd-10th waited 4 ms, longer than the
    interval, and are rejected without running ("Fail at Scale": outside an overload the time in
    the queue is limited to the interval)."""
    svc, ran = cpu_bound(mock_clock, Policy(queue_delay=TIGHT))
    statuses = await burst(svc, 10)
    assert statuses == [200] * 2 + [503] * 8
    assert len(ran) == 2
    stats = codel(svc).statistics()
    assert (stats.checked, stats.rejected) == (10, 0)  # the interval bound, not CoDel's slough


async def test_a_queue_building_up_turns_lifo_on(mock_clock: MockClock) -> None:
    """The 2nd of that burst waited 2 ms > target behind the 1st with eight more behind it: a
    queue is building, adaptive LIFO turns on (without shedding that request) and stays on for
    ``LIFO_HOLD_INTERVALS`` intervals."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT))
    await burst(svc, 10)
    queue = loop_queue(svc)
    assert queue.lifo_until == pytest.approx(0.002 + LIFO_HOLD_INTERVALS * TIGHT.interval)
    assert queue.lifo_shed == 0
    assert queue.waiting == 0


async def test_while_lifo_is_on_a_burst_runs_only_its_newest(mock_clock: MockClock) -> None:
    """The next burst, LIFO on: each request that resumes with newer ones waiting behind it is
    shed at once; the newest runs ("serve the newest requests first"): one handler per burst."""
    svc, ran = cpu_bound(mock_clock, Policy(queue_delay=TIGHT))
    await burst(svc, 10)
    ran.clear()
    statuses = await burst(svc, 8)
    assert statuses == [503] * 7 + [200]
    assert ran == [1]
    queue = loop_queue(svc)
    assert queue.lifo_shed == 7
    # every shed renews the hold: LIFO stays on while batches keep coming
    assert queue.lifo_until == pytest.approx(mock_clock.now() - 0.002 + LIFO_HOLD_INTERVALS * TIGHT.interval)


async def test_an_overloaded_gate_turns_lifo_on(mock_clock: MockClock) -> None:
    """With CoDel overloaded, LIFO is on even if no queue was seen building."""
    svc, _ran = cpu_bound(mock_clock, Policy(queue_delay=TIGHT), work=0.0)
    overload(codel(svc), mock_clock)
    assert await burst(svc, 3) == [503, 503, 200]
    assert loop_queue(svc).lifo_shed == 2


async def test_lifo_turns_off_after_its_hold(mock_clock: MockClock) -> None:
    """Once nothing was shed for ``LIFO_HOLD_INTERVALS`` intervals, requests are served in arrival
    order again: a burst of two short handlers both run."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT), work=0.0001)
    slow = burner(mock_clock, 0.002)
    svc.get("/slow", policy=Policy(queue_delay=TIGHT))(lambda: slow())  # shares the gate
    await burst(svc, 10, "/slow")
    assert await burst(svc, 2) == [503, 200]  # LIFO on
    mock_clock.jump(LIFO_HOLD_INTERVALS * TIGHT.interval)
    assert await burst(svc, 2) == [200, 200]


async def test_the_newest_waits_for_arrivals_already_read(mock_clock: MockClock) -> None:
    """While LIFO is on, the newest waiter lets the loop turn twice more before its handler
    starts; a request that enters meanwhile (the server hands over what it read between turns)
    is newer, so the waiter is shed and the newcomer runs."""
    svc, ran = cpu_bound(mock_clock, Policy(queue_delay=TIGHT))
    await burst(svc, 10)  # LIFO on
    ran.clear()
    first = asyncio.ensure_future(request(svc))
    for _ in range(2):  # admission, the check's yield: it is now in its first settle turn
        await asyncio.sleep(0)
    second = asyncio.ensure_future(request(svc))
    assert (await first, await second) == (503, 200)
    assert ran == [1]


#: Two classes, ``critical`` first; a request names its class in ``x-priority``.
CLASSES = PriorityPolicy(shares={"critical": 0.9, "normal": 0.1}, default="normal", key="header:x-priority")
CRITICAL = [("x-priority", "critical")]


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        ([CRITICAL, [], [], []], [200, 503, 503, 503]),
        ([[], CRITICAL, [], []], [503, 200, 503, 503]),
        ([CRITICAL, [], CRITICAL, []], [503, 503, 200, 503]),
        ([[], [], [], []], [503, 503, 503, 200]),
    ],
)
async def test_with_priority_classes_lifo_serves_the_newest_of_the_highest_class(
    mock_clock: MockClock, classes: list[list[tuple[str, str]]], expected: list[int]
) -> None:
    """A request yields only to newer requests of its class or a higher one: while LIFO is on, a
    critical request runs even with newer normal requests behind it (they are shed), and among
    requests of one class the newest runs."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT, priority=CLASSES))
    await burst(svc, 10)  # LIFO on
    assert await burst(svc, 4, headers=classes) == expected


@pytest.mark.parametrize(("normal_share", "low", "high"), [(0.1, 0.07, 0.15), (0.0, 0.0, 0.0)])
async def test_a_class_kept_under_its_share_comes_first(
    mock_clock: MockClock, normal_share: float, low: float, high: float
) -> None:
    """A flood of critical traffic: in every burst the newest request is critical, so by rank
    alone normal requests never run. With a guaranteed share, a class that got less than its share
    of recent admissions while LIFO shed its requests comes first (Netflix partitioned-limiter
    semantics): normal traffic gets about its share; with a share of 0 it gets nothing."""
    shares = {"critical": 1 - normal_share, "normal": normal_share}
    classes = PriorityPolicy(shares=shares, default="normal", key="header:x-priority")
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT, priority=classes))
    await burst(svc, 10)  # LIFO on
    bursts = [await burst(svc, 3, headers=[[], CRITICAL, CRITICAL]) for _ in range(300)]
    assert all(sorted(b) == [200, 503, 503] for b in bursts)  # one handler per burst
    normal = sum(b[0] == 200 for b in bursts) / len(bursts)
    assert low <= normal <= high


async def test_a_route_without_classes_yields_to_every_newer_request(mock_clock: MockClock) -> None:
    """Sharing the gate with a classed route, a request of a route without classes is shed for a
    newer one of any class, and a critical one is not shed for it."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT, priority=CLASSES))
    plain = burner(mock_clock, 0.002)
    svc.get("/plain", policy=Policy(queue_delay=TIGHT))(lambda: plain())
    await burst(svc, 10)  # LIFO on
    critical = asyncio.ensure_future(request(svc, "/work", CRITICAL))
    unclassed = asyncio.ensure_future(request(svc, "/plain"))
    assert (await critical, await unclassed) == (200, 503)


async def test_lifo_admits_after_a_spell_of_shedding(mock_clock: MockClock) -> None:
    """Clients that retry at once keep a newer request behind every resumed one: once LIFO has
    shed for ``LIFO_SPELL_TARGETS`` targets without admitting anything, the next request to
    resume runs even though a newer one waits (progress instead of a livelock of 503s)."""
    svc, ran = cpu_bound(mock_clock, Policy(queue_delay=TIGHT), work=0.0015)
    await burst(svc, 10)  # LIFO on
    ran.clear()
    queue = loop_queue(svc)
    shed = queue.lifo_shed
    a = asyncio.ensure_future(request(svc))
    b = asyncio.ensure_future(request(svc))
    await asyncio.sleep(0)  # both entered and wait
    await asyncio.sleep(0)  # a resumed with b behind it and was shed (the spell begins); b settles
    assert queue.lifo_shed == shed + 1
    mock_clock.jump(1.2 * LIFO_SPELL_TARGETS * TIGHT.target)
    assert mock_clock.now() < queue.lifo_until  # LIFO is still on
    c = asyncio.ensure_future(request(svc))  # newer than b, entering during its settle turns
    assert (await a, await b) == (503, 200)  # b ran although c waited behind it
    assert await c == 200  # then c, the newest
    assert queue.lifo_shed == shed + 1
    assert ran == [1, 1]


async def test_a_burst_within_the_target_does_not_turn_lifo_on(mock_clock: MockClock) -> None:
    """Short handlers: no request waits over the target, so arrivals stay in order."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT), work=0.0001)
    assert await burst(svc, 6) == [200] * 6
    assert loop_queue(svc).lifo_until == float("-inf")


async def test_a_burst_within_the_target_is_not_shed(mock_clock: MockClock) -> None:
    """Three 0.5 ms handlers arriving together: the last waits 1 ms, within the target."""
    svc, _ran = cpu_bound(mock_clock, Policy(queue_delay=TIGHT), work=0.0005)
    assert await burst(svc, 3) == [200] * 3
    assert codel(svc).statistics().rejected == 0


async def test_with_folly_defaults_lifo_sees_the_queue_before_codel(mock_clock: MockClock) -> None:
    """folly's 5 ms target and 100 ms interval, the same burst of ten 2 ms requests: CoDel has not
    seen a standing queue (that takes an interval), but the 4th waited 6 ms > 5 ms with six behind
    it, so LIFO turns on: the 5th-9th are shed, the newest runs."""
    svc, _ran = cpu_bound(mock_clock, Policy(queue_delay=QueueDelayPolicy(target=0.005, interval=0.1)))
    assert await burst(svc, 10) == [200] * 4 + [503] * 5 + [200]
    assert not codel(svc).overloaded


async def test_rejection_is_503_overloaded_with_retry_after(mock_clock: MockClock) -> None:
    """A queue-delay rejection carries the standard body, ``Retry-After`` and the check's name."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT))
    clients = [Client() for _ in range(10)]
    await asyncio.gather(*(svc(scope(), c.receive, c.send) for c in clients))
    rejected = clients[-1]
    assert rejected.status == 503
    start = rejected.sent[0]
    assert (b"retry-after", b"1") in start["headers"]
    assert b'"reason":"OVERLOADED"' in rejected.sent[1]["body"]
    assert svc.metrics.route("/work", "GET").rejected["OVERLOADED:queue_delay"] >= 1


async def test_the_gate_recovers_once_the_queue_drains(mock_clock: MockClock) -> None:
    """After an overloaded burst, an interval of prompt requests turns the gate back to normal."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT))
    gate = codel(svc)
    overload(gate, mock_clock)
    for _ in range(3):
        mock_clock.jump(0.003)
        assert await request(svc) == 200
    assert not gate.overloaded


async def test_routes_with_the_same_settings_share_one_gate(mock_clock: MockClock) -> None:
    """The loop's delay is the process's: every route with the same settings feeds one CoDel;
    other settings get their own."""
    svc = Service("qd", clock=mock_clock)
    for path, q in (("/a", TIGHT), ("/b", TIGHT), ("/c", QueueDelayPolicy(target=0.002, interval=0.004))):
        svc.get(path, policy=Policy(queue_delay=q))(lambda: None)
    gates = [check(endpoint(svc, p), "queue_delay").codel for p in ("/a", "/b", "/c")]
    assert gates[0] is gates[1]
    assert gates[2] is not gates[0]
    names = sorted(s.info.check for s in svc.governor.snapshot() if s.info.kind == "codel")
    assert names == ["queue_delay:0.001/0.002", "queue_delay:0.002/0.004"]


async def test_the_gate_is_exported_as_metrics(mock_clock: MockClock) -> None:
    """``seawall_codel_*`` families carry the gate's statistics."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT))
    gate = codel(svc)
    overload(gate, mock_clock)
    assert gate.statistics().rejected > 0
    async with client(svc) as c:
        text = (await c.get("/metrics")).text
    rejected = samples(text, "seawall_codel_rejected_total")
    assert list(rejected.values()) == [float(gate.statistics().rejected)]
    assert list(samples(text, "seawall_codel_overloaded").values()) == [1.0]


async def test_routes_without_the_section_have_no_check(mock_clock: MockClock) -> None:
    """Off by default: the default chain has no queue_delay check (and never yields for it)."""
    svc, _ = cpu_bound(mock_clock, Policy())
    assert "queue_delay" not in endpoint(svc, "/work").chain.names


async def test_it_runs_after_every_check_but_shedding(mock_clock: MockClock) -> None:
    """The wait it measures is the last one before the handler: it comes after every other check
    but ``shedding``, which decides once the loop turn (and its LIFO choice) is over."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT, shedding=SheddingPolicy(), max_conns=5))
    assert endpoint(svc, "/work").chain.names[-2:] == ["queue_delay", "shedding"]
    alone, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT, max_conns=5))
    assert endpoint(alone, "/work").chain.names[-1] == "queue_delay"
    assert isinstance(check(endpoint(svc, "/work"), "queue_delay"), QueueDelayCheck)


# -- with shedding ----------------------------------------------------------------------------


async def test_with_queue_delay_the_shedding_check_leaves_the_yield_to_it(mock_clock: MockClock) -> None:
    """Shedding alone yields while hot; with queue_delay on the route, one turn serves both."""
    alone, _ = cpu_bound(mock_clock, Policy(shedding=SheddingPolicy()))
    both, _ = cpu_bound(mock_clock, Policy(shedding=SheddingPolicy(), queue_delay=TIGHT))
    assert check(endpoint(alone, "/work"), "shedding").yields is True
    assert check(endpoint(both, "/work"), "shedding").yields is False


async def test_an_overloaded_gate_arms_the_shedder_without_cpu(mock_clock: MockClock) -> None:
    """The CPU reads 0, yet once the gate says the loop's queue stands the shedder is hot."""
    svc, _ = cpu_bound(mock_clock, Policy(shedding=SheddingPolicy(), queue_delay=TIGHT))
    shedder = check(endpoint(svc, "/work"), "shedding").shedder
    assert not shedder.hot()
    overload(codel(svc), mock_clock)
    assert shedder.hot()


async def test_a_shedder_armed_by_the_gate_cools_off_in_a_few_intervals(mock_clock: MockClock) -> None:
    """Once the gate has recovered, a shedder it armed (and that dropped) stops shedding after
    four of the gate's intervals (go-zero's 1 s cool-off turned one burst at a light load into a
    second of 503s)."""
    svc, _ = cpu_bound(mock_clock, Policy(shedding=SheddingPolicy(), queue_delay=TIGHT))
    shedder = check(endpoint(svc, "/work"), "shedding").shedder
    for _ in range(20):  # a second of prompt requests teaches the shedder its capacity (~1 in flight)
        await request(svc)
        mock_clock.jump(0.05)
    gate = codel(svc)
    overload(gate, mock_clock)
    ticket = shedder.allow()  # one in flight: what it has shown it carries
    assert ticket is not None
    assert shedder.allow() is None  # a second one is dropped
    ticket.accept()
    for _ in range(3):
        mock_clock.jump(0.003)
        assert await request(svc) == 200
    assert not gate.overloaded
    mock_clock.jump(4 * TIGHT.interval)
    assert await request(svc) == 200
    assert not shedder.hot()


async def test_the_shedder_counts_only_work_the_loop_turn_let_start(mock_clock: MockClock) -> None:
    """Deciding after the turn, an armed shedder lets LIFO's choice run: of a burst while the gate
    is overloaded the newest runs, and the shedder drops none of it (no admitted request is in
    flight when it decides: the older ones were shed by LIFO)."""
    svc, ran = cpu_bound(mock_clock, Policy(shedding=SheddingPolicy(), queue_delay=TIGHT))
    shedder = check(endpoint(svc, "/work"), "shedding").shedder
    overload(codel(svc), mock_clock)
    assert await burst(svc, 8) == [503] * 7 + [200]
    assert ran == [1]
    assert shedder.statistics().dropped == 0


def test_queue_aware_cpu_reads_full_while_the_gate_is_overloaded() -> None:
    """:class:`QueueAwareCpu` passes the CPU through, and reads 1000 while the gate is overloaded."""

    class Gate:
        overloaded = False

    gate = Gate()
    cpu = QueueAwareCpu(FixedCpuProbe(420), gate)  # type: ignore[arg-type]
    assert cpu.usage() == 420
    gate.overloaded = True
    assert cpu.usage() == 1000


async def test_shedder_with_the_gate_is_its_own_resource(mock_clock: MockClock) -> None:
    """A route with shedding + queue_delay gets a shedder of its own (its CPU signal differs)."""
    svc = Service("qd", clock=mock_clock, cpu_probe=FixedCpuProbe(0))
    svc.get("/plain", policy=Policy(shedding=SheddingPolicy()))(lambda: None)
    svc.get("/gated", policy=Policy(shedding=SheddingPolicy(), queue_delay=TIGHT))(lambda: None)
    names = sorted(s.info.check for s in svc.governor.snapshot() if s.info.kind == "shedder")
    assert names == ["shedding:900", "shedding:900+queue_delay:0.001/0.002"]


# -- configuration ------------------------------------------------------------------------------


def test_defaults() -> None:
    """Default target 5 ms (folly's), interval 15 ms (a loop cannot afford folly's 100 ms)."""
    assert QueueDelayPolicy() == QueueDelayPolicy(target=0.005, interval=0.015)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 0}, "target must be > 0"),
        ({"interval": -1}, "interval must be > 0"),
        ({"target": float("nan")}, "target must be finite"),
        ({"target": 0.01, "interval": 0.01}, "interval must be > target"),
    ],
)
def test_invalid_settings_name_the_field(kwargs: dict[str, float], message: str) -> None:
    """Built in code, a bad value fails at once with the field's name."""
    with pytest.raises(ValueError, match=message):
        QueueDelayPolicy(**kwargs)


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"target": 0}, '$.routes["GET /x"].queue_delay.target'),
        ({"target": 0.01, "interval": 0.005}, '$.routes["GET /x"].queue_delay.interval'),
        ({"target": 0.01, "bogus": 1}, '$.routes["GET /x"].queue_delay.bogus'),
    ],
)
def test_yaml_errors_name_the_leaf(section: dict[str, float], path: str) -> None:
    """From configuration, an invalid queue_delay names its leaf field."""
    svc = Service("qd")
    svc.get("/x")(lambda: None)
    with pytest.raises(ConfigError) as info:
        svc.configure(SeawallConfig(routes={"GET /x": {"queue_delay": section}}))
    assert info.value.path == path


def test_compiles_from_yaml() -> None:
    """``queue_delay: {target: 0.002, interval: 0.006}`` in a route's rules compiles to the check."""
    svc = Service("qd")
    svc.get("/x")(lambda: None)
    svc.configure(SeawallConfig(routes={"GET /x": {"queue_delay": {"target": 0.002, "interval": 0.006}}}))
    gate = check(endpoint(svc, "/x"), "queue_delay").codel
    assert (gate.target, gate.interval) == (0.002, 0.006)
