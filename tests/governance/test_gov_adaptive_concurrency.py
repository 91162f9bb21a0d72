"""``adaptive_concurrency``: an adaptive in-flight limit per route or route group, on the mock clock.

What the check adds to the limiter (whose algorithms tests/load pins): 503 beyond the limit, the
outcome each admitted call reports, groups of routes sharing one limiter, and configuration.
"""

from __future__ import annotations

import asyncio

import pytest
from tests.governance.asgi_support import Client, burner, burst, scope, tick
from tests.governance.gov_support import Gate, check, client, endpoint, samples

from seawall import ConfigError, HTTPError, Policy, Service
from seawall.errors import CircuitOpen
from seawall.governance import AdaptiveConcurrencyPolicy, QueueDelayPolicy
from seawall.http._config import SeawallConfig
from seawall.load import AdaptiveConcurrencyLimiter, Gradient2Limit, VegasLimit
from seawall.testing import MockClock

#: A limit that never moves (Gradient2 pinned between equal bounds), for counting slots.
FIXED2 = AdaptiveConcurrencyPolicy(algorithm="gradient2", initial_limit=2, min_limit=2, max_limit=2)


def limiter(svc: Service, path: str = "/work") -> AdaptiveConcurrencyLimiter:
    found: AdaptiveConcurrencyLimiter = check(endpoint(svc, path), "adaptive_concurrency").limiter
    return found


def gated(clock: MockClock, policy: Policy) -> tuple[Service, Gate]:
    svc = Service("ac", clock=clock)
    gate = Gate()

    @svc.get("/work", policy=policy)
    async def work() -> dict[str, bool]:
        await gate.hold()
        return {"ok": True}

    return svc, gate


async def test_a_fresh_limiter_starts_in_its_no_load_probe(mock_clock: MockClock) -> None:
    """The default (Vegas) starts by measuring the no-load latency at a pinned limit of 3
    (Envoy's ``min_concurrency``): a 4th concurrent request is 503 OVERLOADED at once."""
    svc, gate = gated(mock_clock, Policy(adaptive_concurrency=AdaptiveConcurrencyPolicy()))
    async with client(svc) as c:
        held = [asyncio.create_task(c.get("/work")) for _ in range(3)]
        await gate.wait_for(3)
        fourth = await c.get("/work")
        gate.release.set()
        assert [(await t).status_code for t in held] == [200] * 3
    assert fourth.status_code == 503
    assert fourth.json()["reason"] == "OVERLOADED"
    assert fourth.headers["retry-after"] == "1"
    assert svc.metrics.route("/work", "GET").rejected == {"OVERLOADED:adaptive_concurrency": 1}
    stats = limiter(svc).statistics()
    assert (stats.admitted, stats.rejected, stats.succeeded, stats.in_flight) == (3, 1, 3, 0)


async def test_after_the_probe_the_limit_is_the_initial_one(mock_clock: MockClock) -> None:
    """Ten completed requests end the probe: the no-load latency is learned (20 ms here) and the
    limit becomes ``initial_limit``."""
    svc = Service("ac", clock=mock_clock)
    burn = burner(mock_clock, 0.02)

    @svc.get("/work", policy=Policy(adaptive_concurrency=AdaptiveConcurrencyPolicy(initial_limit=7)))
    async def work() -> dict[str, bool]:
        burn()
        return {"ok": True}

    for _ in range(10):
        assert await burst(svc, 1) == [200]
    lim = limiter(svc)
    assert lim.limit == 7
    assert lim.statistics().rtt_noload == pytest.approx(0.02)


async def test_limit_falls_when_requests_queue_behind_the_bottleneck(autojump_clock: MockClock) -> None:
    """Behind a 2-wide dependency holding each caller 10 ms, bursts of 15 queue for up to 80 ms:
    far over the no-load 10 ms, so the limit falls from its initial 20."""
    clock = autojump_clock
    svc = Service("ac", clock=clock)
    dependency = asyncio.Semaphore(2)

    @svc.get("/work", policy=Policy(adaptive_concurrency=AdaptiveConcurrencyPolicy(initial_limit=20)))
    async def work() -> dict[str, bool]:
        async with dependency:
            await clock.sleep(0.01)
        return {"ok": True}

    for _ in range(10):
        await burst(svc, 1)  # the probe: no-load latency 10 ms
    assert limiter(svc).limit == 20
    for _ in range(5):
        await burst(svc, 15)
    assert limiter(svc).limit < 20
    assert limiter(svc).statistics().rtt_noload == pytest.approx(0.01)


# -- outcomes -----------------------------------------------------------------------------------


async def outcome_of(clock: MockClock, handler_effect: str) -> tuple[int, tuple[int, int, int]]:
    """One request whose handler ends as ``handler_effect``; its status and the limiter's
    (succeeded, dropped, ignored)."""
    svc = Service("ac", clock=clock)
    policy = Policy(adaptive_concurrency=FIXED2, timeout=1.0)
    entered = asyncio.Event()

    @svc.get("/work", policy=policy)
    async def work() -> dict[str, bool]:
        if handler_effect == "not_found":
            raise HTTPError("no such thing", reason="NOT_FOUND")
        if handler_effect == "downstream_overloaded":
            clock.jump(0.01)
            raise CircuitOpen("the dependency's breaker is open", check="breaker")
        if handler_effect == "bug":
            raise RuntimeError("oops")
        if handler_effect in ("hang", "client_leaves"):
            entered.set()
            await asyncio.Event().wait()
        return {"ok": True}

    c = Client()
    task = asyncio.create_task(svc(scope(), c.receive, c.send))
    if handler_effect == "hang":
        await entered.wait()
        clock.jump(1.01)
        svc.governor.wheel.tick()
    elif handler_effect == "client_leaves":
        await entered.wait()
        c.leave()
        await tick(clock, times=3)  # the departure watch starts after a tick, then sees it
    await task
    stats = limiter(svc).statistics()
    return (c.status or 499), (stats.succeeded, stats.dropped, stats.ignored)


@pytest.mark.parametrize(
    ("effect", "status", "counts"),
    [
        ("ok", 200, (1, 0, 0)),
        ("not_found", 404, (1, 0, 0)),  # the caller's fault: the latency is still a real sample
        ("hang", 504, (0, 1, 0)),  # timed out: back off
        ("downstream_overloaded", 503, (0, 1, 0)),  # a rejection raised by the work: back off
        ("bug", 500, (0, 0, 1)),  # an error says nothing about capacity
        ("client_leaves", 499, (0, 0, 1)),  # cancelled: neither
    ],
)
async def test_outcomes_teach_the_limit(
    mock_clock: MockClock, effect: str, status: int, counts: tuple[int, int, int]
) -> None:
    """ok (4xx included) is a success, timeout or downstream rejection a drop, error or
    cancellation ignored (Netflix ``Limiter.Listener``: onSuccess / onDropped / onIgnore)."""
    assert await outcome_of(mock_clock, effect) == (status, counts)


async def test_a_call_refused_by_a_later_check_is_ignored(mock_clock: MockClock) -> None:
    """Admitted here but rejected by queue_delay before it ran: its slot is freed, nothing learned."""
    svc = Service("ac", clock=mock_clock)
    burn = burner(mock_clock, 0.002)
    policy = Policy(
        adaptive_concurrency=AdaptiveConcurrencyPolicy(initial_limit=50, max_limit=50),
        queue_delay=QueueDelayPolicy(target=0.001, interval=0.002),
    )

    @svc.get("/work", policy=policy)
    async def work() -> dict[str, bool]:
        burn()
        return {"ok": True}

    for _ in range(10):
        await burst(svc, 1)  # past the probe
    statuses = await burst(svc, 10)
    stats = limiter(svc).statistics()
    assert statuses.count(503) == stats.ignored > 0
    assert stats.dropped == 0
    assert stats.in_flight == 0


# -- groups -------------------------------------------------------------------------------------


async def test_routes_of_a_group_share_one_limiter(mock_clock: MockClock) -> None:
    """Two routes in group ``db`` count against one limit; a route without a group has its own."""
    svc = Service("ac", clock=mock_clock)
    gate = Gate()
    grouped = Policy(adaptive_concurrency=AdaptiveConcurrencyPolicy(**{**_fields(FIXED2), "group": "db"}))

    for path, policy in (("/a", grouped), ("/b", grouped), ("/c", Policy(adaptive_concurrency=FIXED2))):

        @svc.get(path, policy=policy)
        async def work() -> dict[str, bool]:
            await gate.hold()
            return {"ok": True}

    assert limiter(svc, "/a") is limiter(svc, "/b")
    assert limiter(svc, "/c") is not limiter(svc, "/a")
    async with client(svc) as c:
        held = [asyncio.create_task(c.get(p)) for p in ("/a", "/b", "/c")]
        await gate.wait_for(3)
        assert (await c.get("/a")).status_code == 503  # /a and /b hold both of db's slots
        assert (await c.get("/b")).status_code == 503
        gate.release.set()
        assert [(await t).status_code for t in held] == [200] * 3
        text = (await c.get("/metrics")).text
    limits = samples(text, "seawall_concurrency_limiter_limit")
    checks = sorted(dict(labels)["check"] for labels in limits)
    assert checks == ["adaptive_concurrency", "adaptive_concurrency:db"]


def _fields(p: AdaptiveConcurrencyPolicy) -> dict[str, object]:
    return {f: getattr(p, f) for f in p.__struct_fields__}


async def test_an_unchanged_section_keeps_its_limiter_across_a_recompile(mock_clock: MockClock) -> None:
    """Recompiling with the same settings finds the same limiter (what it learned is kept)."""
    svc, _ = gated(mock_clock, Policy(adaptive_concurrency=AdaptiveConcurrencyPolicy()))
    before = limiter(svc)
    svc.recompile({"/work": {"timeout": 3.0}})
    assert limiter(svc) is before
    svc.recompile({"/work": Policy(adaptive_concurrency=AdaptiveConcurrencyPolicy(initial_limit=12))})
    assert limiter(svc) is not before


async def test_routes_without_the_section_have_no_check(mock_clock: MockClock) -> None:
    """Off by default: nothing in the default chain."""
    svc, _ = gated(mock_clock, Policy())
    assert "adaptive_concurrency" not in endpoint(svc, "/work").chain.names


# -- configuration ------------------------------------------------------------------------------


def test_defaults_are_seawalls_vegas() -> None:
    """Vegas, initial 10, smoothing 0.5, limits 1..1000 (``seawall.load.default_limit``)."""
    p = AdaptiveConcurrencyPolicy()
    assert (p.algorithm, p.initial_limit, p.min_limit, p.max_limit, p.smoothing, p.group) == (
        "vegas",
        10,
        1,
        1000,
        0.5,
        None,
    )
    assert isinstance(p.build(), VegasLimit)
    assert isinstance(AdaptiveConcurrencyPolicy(algorithm="gradient2").build(), Gradient2Limit)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_limit": 0}, "initial_limit must be >= 1"),
        ({"min_limit": 5, "initial_limit": 2}, "initial_limit must be in"),
        ({"min_limit": 5, "max_limit": 2, "initial_limit": 5}, "max_limit must be >= min_limit"),
        ({"smoothing": 0.0}, "smoothing must be > 0"),
        ({"smoothing": 1.5}, "smoothing must be <= 1"),
    ],
)
def test_invalid_settings_name_the_field(kwargs: dict[str, object], message: str) -> None:
    """Built in code, a bad value fails at once with the field's name."""
    with pytest.raises(ValueError, match=message):
        AdaptiveConcurrencyPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("section", "leaf"),
    [
        ({"initial_limit": 0}, "initial_limit"),
        ({"min_limit": 5, "initial_limit": 2}, "initial_limit"),
        ({"algorithm": "aimd"}, "algorithm"),
        ({"smoothing": 0}, "smoothing"),
        ({"group": ""}, "group"),
        ({"limit": 3}, "limit"),
    ],
)
def test_yaml_errors_name_the_leaf(section: dict[str, object], leaf: str) -> None:
    """From configuration, an invalid adaptive_concurrency names its leaf field."""
    svc = Service("ac")
    svc.get("/x")(lambda: None)
    with pytest.raises(ConfigError) as info:
        svc.configure(SeawallConfig(routes={"GET /x": {"adaptive_concurrency": section}}))
    assert info.value.path == f'$.routes["GET /x"].adaptive_concurrency.{leaf}'


def test_compiles_from_yaml() -> None:
    """A group and an algorithm from configuration reach the limiter."""
    svc = Service("ac")
    svc.get("/x")(lambda: None)
    section = {"algorithm": "gradient2", "initial_limit": 30, "min_limit": 4, "group": "db"}
    svc.configure(SeawallConfig(routes={"GET /x": {"adaptive_concurrency": section}}))
    lim = limiter(svc, "/x")
    assert isinstance(lim.algorithm, Gradient2Limit)
    assert lim.limit == 30
    (snap,) = [s for s in svc.governor.snapshot() if s.info.kind == "concurrency_limiter"]
    assert snap.info.check == "adaptive_concurrency:db"
