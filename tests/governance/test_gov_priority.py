"""``priority``: traffic classes with guaranteed shares of a route group's adaptive limit and of
what the shedder lets in (queue_delay's ranking is tested with queue_delay).

The partition rules themselves are :class:`~seawall.load.PartitionedLimiter`'s (tests/load pins
Netflix's semantics); here: how a call gets its class, that the shares reach the limiter, and
that priority traffic keeps its share when the limit is full.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from tests.governance.gov_support import Gate, check, client, endpoint

from seawall import ConfigError, Policy, Service, SheddingPolicy
from seawall.governance import AdaptiveConcurrencyPolicy, PriorityPolicy
from seawall.governance.checks import PartitionedConcurrencyCheck
from seawall.http._config import SeawallConfig
from seawall.load import FixedCpuProbe, PartitionedLimiter
from seawall.testing import MockClock

#: A limit of 4 that never moves.
FIXED4 = AdaptiveConcurrencyPolicy(algorithm="gradient2", initial_limit=4, min_limit=4, max_limit=4)
#: critical: ceil(4 x 0.75) = 3 guaranteed slots; normal: ceil(4 x 0.25) = 1.
CLASSES = PriorityPolicy(shares={"critical": 0.75, "normal": 0.25}, default="normal", key="header:x-priority")


def service(
    clock: MockClock, priority: PriorityPolicy = CLASSES, group: str | None = None
) -> tuple[Service, Gate]:
    svc = Service("prio", clock=clock)
    gate = Gate()
    limit = AdaptiveConcurrencyPolicy(
        **{**{f: getattr(FIXED4, f) for f in FIXED4.__struct_fields__}, "group": group}
    )

    @svc.get("/work", policy=Policy(adaptive_concurrency=limit, priority=priority))
    async def work() -> dict[str, bool]:
        await gate.hold()
        return {"ok": True}

    return svc, gate


def limiter(svc: Service, path: str = "/work") -> PartitionedLimiter:
    found = check(endpoint(svc, path), "adaptive_concurrency")
    assert isinstance(found, PartitionedConcurrencyCheck)
    return found.limiter


CRITICAL = {"x-priority": "critical"}


async def test_critical_traffic_keeps_its_share_of_a_full_limit(mock_clock: MockClock) -> None:
    """Normal traffic borrowed all 4 slots; a normal request is refused, a critical one is still
    admitted (its 3 slots are guaranteed), and so is the next, and the next."""
    svc, gate = service(mock_clock)
    async with client(svc) as c:
        normal = [asyncio.create_task(c.get("/work")) for _ in range(4)]
        await gate.wait_for(4)
        assert (await c.get("/work")).status_code == 503
        critical = [asyncio.create_task(c.get("/work", headers=CRITICAL)) for _ in range(3)]
        await gate.wait_for(7)
        assert (await c.get("/work", headers=CRITICAL)).status_code == 503  # past its share
        gate.release.set()
        statuses = [(await t).status_code for t in (*normal, *critical)]
    assert statuses == [200] * 7
    stats = {p.name: p for p in limiter(svc).statistics().partitions}
    assert (stats["critical"].admitted, stats["critical"].rejected) == (3, 1)
    assert (stats["normal"].admitted, stats["normal"].rejected) == (4, 1)


async def test_a_class_borrows_what_the_other_leaves(mock_clock: MockClock) -> None:
    """With no normal traffic, critical requests may use all 4 slots, not only their 3."""
    svc, gate = service(mock_clock)
    async with client(svc) as c:
        held = [asyncio.create_task(c.get("/work", headers=CRITICAL)) for _ in range(4)]
        await gate.wait_for(4)
        gate.release.set()
        assert [(await t).status_code for t in held] == [200] * 4


@pytest.mark.parametrize(
    ("header", "expected"), [(None, "normal"), ("critical", "critical"), ("vip", "normal")]
)
async def test_a_call_names_its_class_or_gets_the_default(
    mock_clock: MockClock, header: str | None, expected: str
) -> None:
    """The key's value selects the class when it names one; anything else is ``default``."""
    svc, gate = service(mock_clock)
    gate.release.set()
    async with client(svc) as c:
        r = await c.get("/work", headers={"x-priority": header} if header else {})
    assert r.status_code == 200
    admitted = {p.name: p.admitted for p in limiter(svc).statistics().partitions}
    assert admitted[expected] == 1
    assert sum(admitted.values()) == 1


async def test_without_a_key_every_call_is_the_routes_class(mock_clock: MockClock) -> None:
    """``default`` alone puts the whole route in one class (route-level priority, like go-zero's)."""
    svc, gate = service(
        mock_clock, PriorityPolicy(shares={"critical": 0.75, "normal": 0.25}, default="critical")
    )
    gate.release.set()
    async with client(svc) as c:
        await c.get("/work", headers={"x-priority": "normal"})
    admitted = {p.name: p.admitted for p in limiter(svc).statistics().partitions}
    assert admitted == {"critical": 1, "normal": 0, "unknown": 0}


async def test_routes_of_a_group_with_equal_shares_share_the_partitions(mock_clock: MockClock) -> None:
    """A critical route and a normal route of one group partition one limiter."""
    svc = Service("prio", clock=mock_clock)
    limit = AdaptiveConcurrencyPolicy(group="api")
    shares = {"critical": 0.75, "normal": 0.25}
    svc.get(
        "/checkout",
        policy=Policy(adaptive_concurrency=limit, priority=PriorityPolicy(shares=shares, default="critical")),
    )(lambda: None)
    svc.get(
        "/browse",
        policy=Policy(adaptive_concurrency=limit, priority=PriorityPolicy(shares=shares, default="normal")),
    )(lambda: None)
    assert limiter(svc, "/checkout") is limiter(svc, "/browse")


async def test_the_section_alone_adds_no_check(mock_clock: MockClock) -> None:
    """``priority`` only partitions the decisions that support classes; by itself it does nothing."""
    svc = Service("prio", clock=mock_clock)
    svc.get("/x", policy=Policy(priority=CLASSES))(lambda: None)
    plain = Service("plain", clock=mock_clock)
    plain.get("/x")(lambda: None)
    assert endpoint(svc, "/x").chain.names == endpoint(plain, "/x").chain.names


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shares": {}, "default": "a"}, "shares must name at least one class"),
        ({"shares": {"a": 0.7, "b": 0.7}, "default": "a"}, "shares must sum to <= 1"),
        ({"shares": {"a": 1.5}, "default": "a"}, "shares must be in"),
        ({"shares": {"a": 1.0}, "default": "b"}, "default must be one of the classes"),
    ],
)
def test_invalid_settings_name_the_field(kwargs: dict[str, object], message: str) -> None:
    """Built in code, bad classes fail at once naming the field."""
    with pytest.raises(ValueError, match=message):
        PriorityPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("section", "leaf"),
    [
        ({"shares": {"a": 0.7, "b": 0.7}, "default": "a"}, "shares"),
        ({"shares": {"a": 2}, "default": "a"}, "shares"),
        ({"shares": {"a": 1.0}, "default": "b"}, "default"),
        ({"shares": {"a": 1.0}, "default": "a", "key": "nope"}, "key"),
        ({"shares": {"a": 1.0}, "default": "a", "key": "fn:unregistered"}, "key"),
    ],
)
def test_yaml_errors_name_the_leaf(section: dict[str, object], leaf: str) -> None:
    """From configuration, an invalid priority section names its leaf field, including a key that
    names no registered function (found only when the route compiles)."""
    svc = Service("prio")
    svc.get("/x")(lambda: None)
    with pytest.raises(ConfigError) as info:
        svc.configure(SeawallConfig(routes={"GET /x": {"priority": section}}))
    assert info.value.path == f'$.routes["GET /x"].priority.{leaf}'


def test_yaml_missing_shares_is_named() -> None:
    """A section without its required ``shares`` fails naming that field."""
    svc = Service("prio")
    svc.get("/x")(lambda: None)
    with pytest.raises(ConfigError, match="shares") as info:
        svc.configure(SeawallConfig(routes={"GET /x": {"priority": {"default": "a"}}}))
    assert info.value.path == '$.routes["GET /x"].priority.shares'  # the missing field itself


def test_compiles_from_yaml() -> None:
    """Classes from configuration reach the partitioned limiter, in their order."""
    svc = Service("prio")
    svc.get("/x")(lambda: None)
    rules = {
        "adaptive_concurrency": {"initial_limit": 20},
        "priority": {"shares": {"gold": 0.6, "silver": 0.3, "bronze": 0.1}, "default": "bronze"},
    }
    svc.configure(SeawallConfig(routes={"GET /x": rules}))
    parts = limiter(svc, "/x").statistics().partitions
    assert [(p.name, p.share) for p in parts] == [
        ("gold", 0.6),
        ("silver", 0.3),
        ("bronze", 0.1),
        ("unknown", 0.0),
    ]


# -- shedding -------------------------------------------------------------------------------------


def shedding_service(clock: MockClock) -> tuple[Service, Gate]:
    """``/work`` with adaptive shedding and the two classes; the CPU reads full, so the shedder
    drops whenever more than ``max_flight`` requests are in flight."""
    svc = Service("prio-shed", clock=clock, cpu_probe=FixedCpuProbe(1000))
    gate = Gate()

    @svc.get("/work", policy=Policy(shedding=SheddingPolicy(), priority=CLASSES))
    async def work() -> dict[str, bool]:
        await gate.hold()
        return {"ok": True}

    return svc, gate


async def test_shedding_keeps_each_class_its_share_of_what_the_service_carries(mock_clock: MockClock) -> None:
    """Normal traffic fills what the shedder allows; the next normal request is shed, but critical
    requests are admitted up to their guaranteed share, ``ceil(max_flight x 0.75)``, and the one
    after is shed."""
    svc, gate = shedding_service(mock_clock)
    shedding = check(endpoint(svc, "/work"), "shedding")
    assert isinstance(shedding.partitions, tuple)
    _, partitions, _ = shedding.partitions
    limit = int(shedding.shedder.statistics().max_flight)
    guaranteed = math.ceil(limit * 0.75)
    async with client(svc) as c:
        normal = [asyncio.create_task(c.get("/work")) for _ in range(limit)]
        await gate.wait_for(limit)
        assert (await c.get("/work")).status_code == 503
        critical = [asyncio.create_task(c.get("/work", headers=CRITICAL)) for _ in range(guaranteed)]
        await gate.wait_for(limit + guaranteed)
        assert partitions.in_flight == [guaranteed, limit]
        assert (await c.get("/work", headers=CRITICAL)).status_code == 503  # past its share
        gate.release.set()
        statuses = [(await t).status_code for t in (*normal, *critical)]
    assert statuses == [200] * (limit + guaranteed)
    assert partitions.in_flight == [0, 0]
    assert shedding.shedder.statistics().dropped == 2 + guaranteed  # every forced one was first dropped


async def test_a_class_under_its_share_is_not_shed_while_the_shedder_admits(mock_clock: MockClock) -> None:
    """Below ``max_flight`` every class is admitted, past its share too (it borrows)."""
    svc, gate = shedding_service(mock_clock)
    shedding = check(endpoint(svc, "/work"), "shedding")
    limit = int(shedding.shedder.statistics().max_flight)
    async with client(svc) as c:
        critical = [asyncio.create_task(c.get("/work", headers=CRITICAL)) for _ in range(limit)]
        await gate.wait_for(limit)
        gate.release.set()
        assert [(await t).status_code for t in critical] == [200] * limit
    assert shedding.shedder.statistics().dropped == 0
