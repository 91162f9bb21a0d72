"""The ``breaker`` section on a route: 503 CIRCUIT_OPEN while the route's own handler keeps failing."""

from __future__ import annotations

import random

import pytest
from tests.governance.gov_support import check, client, endpoint, samples

from seawall import Policy, RateLimitPolicy, Service
from seawall.errors import ConfigError, InternalError
from seawall.governance import BREAKER, BreakerPolicy, decode_patch
from seawall.governance.checks import BreakerCheck
from seawall.testing import MockClock

CIRCUIT = BreakerPolicy(
    kind="circuit", minimum_calls=4, wait_duration_in_open=5.0, permitted_calls_in_half_open=2
)


def failing_service(
    clock: MockClock, policy: Policy, fallback: object = None
) -> tuple[Service, dict[str, int]]:
    svc = Service("orders", clock=clock, rng=random.Random(1))
    state = {"runs": 0, "status": 500}

    @svc.get("/x", policy=policy, fallback=fallback)  # type: ignore[arg-type]
    async def x() -> dict[str, bool]:
        state["runs"] += 1
        if state["status"] >= 500:
            raise InternalError()
        if state["status"] == 404:
            from seawall.errors import NotFound

            raise NotFound()
        return {"ok": True}

    return svc, state


def test_breaker_is_off_by_default() -> None:
    """A route without ``breaker=`` has no breaker check."""
    assert Policy()[BREAKER] is None
    svc = Service("s")
    svc.get("/x")(lambda: None)
    assert "breaker" not in endpoint(svc, "/x").chain.names


async def test_open_breaker_answers_503_without_running(mock_clock: MockClock) -> None:
    """After the failure rate reaches the threshold, the route answers 503 CIRCUIT_OPEN with
    ``Retry-After`` and its handler does not run."""
    svc, state = failing_service(mock_clock, Policy(breaker=CIRCUIT))
    async with client(svc) as c:
        for _ in range(4):
            assert (await c.get("/x")).status_code == 500
        r = await c.get("/x")
    assert r.status_code == 503
    assert r.json()["reason"] == "CIRCUIT_OPEN"
    assert r.headers["retry-after"] == "5"
    assert state["runs"] == 4


async def test_breaker_closes_through_half_open(mock_clock: MockClock) -> None:
    """After the wait, the permitted probes run; their successes close the breaker."""
    svc, state = failing_service(mock_clock, Policy(breaker=CIRCUIT))
    async with client(svc) as c:
        for _ in range(4):
            await c.get("/x")
        state["status"] = 200
        mock_clock.jump(5.0)
        assert [(await c.get("/x")).status_code for _ in range(3)] == [200, 200, 200]
    breaker = check(endpoint(svc, "/x"), "breaker").breaker
    assert breaker.state == "closed"
    assert breaker.statistics().transitions == 3


async def test_failed_probe_opens_again(mock_clock: MockClock) -> None:
    """A half-open breaker whose probes fail opens again for another wait."""
    svc, _ = failing_service(mock_clock, Policy(breaker=CIRCUIT))
    async with client(svc) as c:
        for _ in range(4):
            await c.get("/x")
        mock_clock.jump(5.0)
        assert [(await c.get("/x")).status_code for _ in range(3)] == [500, 500, 503]
    assert check(endpoint(svc, "/x"), "breaker").breaker.state == "open"


async def test_four_xx_counts_as_success(mock_clock: MockClock) -> None:
    """A handler answering 404s keeps its breaker closed (the caller's fault, not the route's)."""
    svc, state = failing_service(mock_clock, Policy(breaker=CIRCUIT))
    state["status"] = 404
    async with client(svc) as c:
        codes = {(await c.get("/x")).status_code for _ in range(10)}
    assert codes == {404}
    assert check(endpoint(svc, "/x"), "breaker").breaker.statistics().failures == 0


async def test_rejections_by_other_checks_are_not_counted(mock_clock: MockClock) -> None:
    """A call refused by the route's rate limit says nothing about its handler: not counted."""
    policy = Policy(breaker=CIRCUIT, rate_limit=RateLimitPolicy(rate=1, burst=1))
    svc, state = failing_service(mock_clock, policy)
    state["status"] = 200
    async with client(svc) as c:
        codes = [(await c.get("/x")).status_code for _ in range(5)]
    assert codes == [200, 429, 429, 429, 429]
    stats = check(endpoint(svc, "/x"), "breaker").breaker.statistics()
    assert (stats.calls, stats.failures) == (1, 0)


async def test_route_fallback_answers_an_open_breaker(mock_clock: MockClock) -> None:
    """The route's fallback answers CIRCUIT_OPEN, marked ``X-Seawall-Fallback``."""
    svc, _ = failing_service(mock_clock, Policy(breaker=CIRCUIT), fallback=lambda r, e: {"stale": True})
    async with client(svc) as c:
        for _ in range(4):
            await c.get("/x")
        r = await c.get("/x")
    assert r.status_code == 200
    assert r.json() == {"stale": True}
    assert r.headers["x-seawall-fallback"] == "CIRCUIT_OPEN"


async def test_adaptive_breaker_sheds_a_failing_route(mock_clock: MockClock) -> None:
    """The default kind (adaptive, go-zero) drops most calls to a route that only fails."""
    svc, state = failing_service(mock_clock, Policy(breaker=BreakerPolicy()))
    async with client(svc) as c:
        codes = [(await c.get("/x")).status_code for _ in range(200)]
    assert codes.count(503) > 150
    assert state["runs"] < 50


async def test_breaker_state_survives_an_unrelated_rules_change(mock_clock: MockClock) -> None:
    """Recompiling with the same breaker settings keeps the same (open) breaker."""
    svc, _ = failing_service(mock_clock, Policy(breaker=CIRCUIT))
    async with client(svc) as c:
        for _ in range(4):
            await c.get("/x")
        svc.recompile({"GET /x": {"max_conns": 5}})
        assert (await c.get("/x")).status_code == 503


async def test_breaker_statistics_are_exported(mock_clock: MockClock) -> None:
    """The route's breaker appears on /metrics as ``seawall_circuit_breaker_*{route,method,check}``."""
    svc, _ = failing_service(mock_clock, Policy(breaker=CIRCUIT))
    async with client(svc) as c:
        for _ in range(5):
            await c.get("/x")
        text = (await c.get("/metrics")).text
    rejected = samples(text, "seawall_circuit_breaker_rejected_total")
    assert rejected == {frozenset({("route", "/x"), ("method", "GET"), ("check", "breaker")}): 1.0}


def test_check_reads_the_outcome() -> None:
    """The exit reports error/timeout/429 as failures, other answers as successes, the rest not at all."""
    from seawall.breaker import CircuitBreaker
    from seawall.governance import Outcome

    breaker = CircuitBreaker(minimum_calls=100)
    check_ = BreakerCheck(breaker, "/x")
    for status, kind in [(200, "ok"), (404, "ok"), (429, "ok"), (500, "error"), (504, "timeout")]:
        exit_ = check_.enter(None)  # type: ignore[arg-type]
        assert exit_ is not None
        exit_(Outcome(status, kind, 0.0, 0.0))  # type: ignore[arg-type]
    for kind in ("rejected", "cancelled"):
        exit_ = check_.enter(None)  # type: ignore[arg-type]
        assert exit_ is not None
        exit_(Outcome(503, kind, 0.0, 0.0))  # type: ignore[arg-type]
    stats = breaker.statistics()
    assert (stats.calls, stats.failures) == (5, 3)


# -- the section -----------------------------------------------------------------------------------


def test_policy_settings_of_the_other_kind_are_refused() -> None:
    """A circuit setting on an adaptive breaker (or the reverse) is an error naming the field."""
    with pytest.raises(ValueError, match="window_size must not be set with kind 'adaptive'"):
        BreakerPolicy(window_size=10)
    with pytest.raises(ValueError, match="k must not be set with kind 'circuit'"):
        BreakerPolicy(kind="circuit", k=2.0)


def test_policy_settings_are_checked_together() -> None:
    """Settings the primitive refuses together (k below min_k) are refused when the policy is made."""
    with pytest.raises(ValueError, match="k must be >= min_k"):
        BreakerPolicy(k=1.2, min_k=1.5)


def test_yaml_error_names_the_leaf() -> None:
    """An invalid breaker setting in seawall.yaml names its field."""
    with pytest.raises(ConfigError) as info:
        decode_patch({"breaker": {"kind": "circuit", "failure_rate_threshold": 150}}, "$.routes['/x']")
    assert info.value.path == "$.routes['/x'].breaker.failure_rate_threshold"
    with pytest.raises(ConfigError) as info:
        decode_patch({"breaker": {"kind": "adaptive", "wait_duration_in_open": 2}}, "$.default")
    assert info.value.path == "$.default.breaker.wait_duration_in_open"


def test_unset_settings_take_the_primitives_defaults() -> None:
    """An empty adaptive policy builds go-zero's breaker (K=1.5, 10 s in 40 buckets)."""
    breaker = BreakerPolicy().build()
    assert repr(breaker) == "AdaptiveBreaker(k=1.5, window=10.0, buckets=40, protection=5, dropping=False)"


def test_force_pass_zero_turns_it_off() -> None:
    """``force_pass=0`` builds an adaptive breaker without the forced pass."""
    breaker = BreakerPolicy(force_pass=0).build()
    assert breaker._force_pass is None  # type: ignore[union-attr]


async def test_retry_after_of_an_open_circuit_counts_down(mock_clock: MockClock) -> None:
    """``Retry-After`` says how much of the open wait is left (rounded up)."""
    svc, _ = failing_service(mock_clock, Policy(breaker=CIRCUIT))
    async with client(svc) as c:
        for _ in range(4):
            await c.get("/x")
        mock_clock.jump(3.2)
        r = await c.get("/x")
    assert r.headers["retry-after"] == "2"
