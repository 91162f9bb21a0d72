"""``queue_delay``: CoDel admission in the request path, on the mock clock.

Requests that arrive together queue behind each other's CPU work on the event loop; the check
measures each one's wait (admission to resumption) and rejects, before the handler runs, the
requests that waited too long once the queue has stood for an interval.
"""

from __future__ import annotations

import asyncio

import pytest
from tests.governance.asgi_support import Client, burner, burst, request, scope
from tests.governance.gov_support import check, client, endpoint, samples

from seawall import ConfigError, Policy, Service, SheddingPolicy
from seawall.governance import QueueDelayPolicy
from seawall.governance.checks import QueueAwareCpu, QueueDelayCheck
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
    await burst(svc, 10)
    gate = codel(svc)
    assert gate.overloaded
    before = gate.statistics().checked
    mock_clock.jump(0.0001)
    for _ in range(3):  # prompt, but the gate is still overloaded: each one measured
        assert await request(svc, "/fast") == 200
    assert gate.overloaded
    assert gate.statistics().checked == before + 3


async def test_a_standing_queue_is_shed_before_the_handlers_run(mock_clock: MockClock) -> None:
    """Ten requests arrive together, each handler burns 2 ms: the 1st-4th run (waits 0-6 ms: the
    interval ending at the 4th had a minimum of 2 ms > target, so the next one is overloaded);
    the 5th-10th waited 8 ms > 2 x target and are rejected without running."""
    svc, ran = cpu_bound(mock_clock, Policy(queue_delay=TIGHT))
    statuses = await burst(svc, 10)
    assert statuses == [200] * 4 + [503] * 6
    assert len(ran) == 4
    stats = codel(svc).statistics()
    assert (stats.checked, stats.rejected, stats.overloaded) == (10, 6, True)


async def test_a_burst_within_the_target_is_not_shed(mock_clock: MockClock) -> None:
    """The same burst with 0.5 ms handlers: every wait stays within what the gate tolerates."""
    svc, _ran = cpu_bound(mock_clock, Policy(queue_delay=TIGHT), work=0.0005)
    assert await burst(svc, 6) == [200] * 6
    assert codel(svc).statistics().rejected == 0


async def test_folly_defaults_are_slower_to_shed(mock_clock: MockClock) -> None:
    """With folly's 5 ms target and 100 ms interval the same burst of ten 2 ms requests is all
    admitted (the queue has not stood for an interval yet): what makes the short interval matter."""
    svc, _ran = cpu_bound(mock_clock, Policy(queue_delay=QueueDelayPolicy(target=0.005, interval=0.1)))
    assert await burst(svc, 10) == [200] * 10


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
    await burst(svc, 10)
    gate = codel(svc)
    assert gate.overloaded
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
    await burst(svc, 10)
    async with client(svc) as c:
        text = (await c.get("/metrics")).text
    rejected = samples(text, "seawall_codel_rejected_total")
    assert list(rejected.values()) == [6.0]
    assert list(samples(text, "seawall_codel_overloaded").values()) == [1.0]


async def test_routes_without_the_section_have_no_check(mock_clock: MockClock) -> None:
    """Off by default: the default chain has no queue_delay check (and never yields for it)."""
    svc, _ = cpu_bound(mock_clock, Policy())
    assert "queue_delay" not in endpoint(svc, "/work").chain.names


async def test_it_runs_last(mock_clock: MockClock) -> None:
    """The wait it measures is the last one before the handler: it comes after every other check."""
    svc, _ = cpu_bound(mock_clock, Policy(queue_delay=TIGHT, shedding=SheddingPolicy(), max_conns=5))
    assert endpoint(svc, "/work").chain.names[-1] == "queue_delay"
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
    await burst(svc, 10)
    assert codel(svc).overloaded
    assert shedder.hot()


async def test_a_shedder_armed_by_the_gate_cools_off_in_a_few_intervals(mock_clock: MockClock) -> None:
    """Once the gate has recovered, the shedder it armed stops shedding after four of the gate's
    intervals (go-zero's 1 s cool-off turned one burst at a light load into a second of 503s)."""
    svc, _ = cpu_bound(mock_clock, Policy(shedding=SheddingPolicy(), queue_delay=TIGHT))
    shedder = check(endpoint(svc, "/work"), "shedding").shedder
    for _ in range(20):  # a second of prompt requests teaches the shedder its capacity (~1 in flight)
        await request(svc)
        mock_clock.jump(0.05)
    await burst(svc, 10)
    await burst(svc, 8)  # the gate is overloaded: the shedder, armed, drops some of these
    assert shedder.statistics().dropped > 0
    gate = codel(svc)
    for _ in range(3):
        mock_clock.jump(0.003)
        assert await request(svc) == 200
    assert not gate.overloaded
    mock_clock.jump(4 * TIGHT.interval)
    assert await request(svc) == 200
    assert not shedder.hot()


async def test_shedder_and_gate_hold_a_burst_to_one_handler_per_turn(mock_clock: MockClock) -> None:
    """Armed by the gate, the shedder admits what the process can carry (one CPU-bound handler at
    a time): while the gate is overloaded, a burst runs one request and sheds the rest at once."""
    svc, ran = cpu_bound(mock_clock, Policy(shedding=SheddingPolicy(), queue_delay=TIGHT))
    for _ in range(20):  # a second of prompt requests teaches the shedder its capacity (~1 in flight)
        await request(svc)
        mock_clock.jump(0.05)
    await burst(svc, 10)
    assert codel(svc).overloaded
    ran.clear()
    shedder = check(endpoint(svc, "/work"), "shedding").shedder
    dropped = shedder.statistics().dropped
    statuses = await burst(svc, 8)
    assert statuses == [200] + [503] * 7
    assert ran == [1]
    assert shedder.statistics().dropped - dropped == 7  # shed at admission, before any wait


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
