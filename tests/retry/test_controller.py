"""Tests for seawall.retry.RetryController: every rule of the retry decision, and hedging."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from seawall.retry import (
    HedgePolicy,
    NoopRetryBudget,
    RetryController,
    RetryDecision,
    RetryPolicy,
)
from seawall.testing import MockClock


class _Top(random.Random):
    """An rng whose uniform(a, b) always draws b (the longest delay allowed)."""

    def uniform(self, a: float, b: float) -> float:
        return b


class _Bottom(random.Random):
    """An rng whose uniform(a, b) always draws a (no backoff)."""

    def uniform(self, a: float, b: float) -> float:
        return a


def _controller(
    *, budget: Any = None, rng: random.Random | None = None, **policy: Any
) -> tuple[RetryController, MockClock]:
    clock = MockClock()
    controller = RetryController(
        RetryPolicy(**policy), budget=budget, clock=clock, rng=rng if rng is not None else random.Random(0)
    )
    return controller, clock


def _decide(controller: RetryController, **overrides: Any) -> RetryDecision:
    kwargs: dict[str, Any] = {"attempt": 1, "method": "GET", "outcome": "failure"} | overrides
    return controller.decide(**kwargs)


# (policy fields, decide arguments, expected reason): one row per rule and boundary.
RULES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("success", {}, {"outcome": "ok"}, "ok"),
    ("failure is retried", {}, {}, "retry"),
    ("timeout is retried", {}, {"outcome": "timeout"}, "retry"),
    ("connect error is retried", {}, {"outcome": "connect_error"}, "retry"),
    ("overloaded is retried", {}, {"outcome": "overloaded"}, "retry"),
    ("not counted is never retried", {}, {"outcome": "not_counted"}, "not_retryable"),
    ("outcome left out of retry_on", {"retry_on": {"timeout"}}, {"outcome": "failure"}, "not_retryable"),
    ("outcome kept in retry_on", {"retry_on": {"timeout"}}, {"outcome": "timeout"}, "retry"),
    ("POST is not idempotent", {}, {"method": "POST"}, "not_idempotent"),
    ("PATCH is not idempotent", {}, {"method": "PATCH", "outcome": "timeout"}, "not_idempotent"),
    ("lower-case method", {}, {"method": "get"}, "retry"),
    ("POST flagged idempotent", {}, {"method": "POST", "idempotent": True}, "retry"),
    ("GET flagged not idempotent", {}, {"idempotent": False}, "not_idempotent"),
    ("POST with an idempotency key", {}, {"method": "POST", "idempotency_key": True}, "retry"),
    ("key beats idempotent=False", {}, {"idempotent": False, "idempotency_key": True}, "retry"),
    ("POST connect error (never sent)", {}, {"method": "POST", "outcome": "connect_error"}, "retry"),
    (
        "POST connect error, exemption off",
        {"connect_error_any_method": False},
        {"method": "POST", "outcome": "connect_error"},
        "not_idempotent",
    ),
    ("custom idempotent methods", {"idempotent_methods": {"POST"}}, {"method": "POST"}, "retry"),
    ("attempt 2 of 3", {}, {"attempt": 2}, "retry"),
    ("attempt 3 of 3", {}, {"attempt": 3}, "max_attempts"),
    ("max_attempts 1 turns retries off", {"max_attempts": 1}, {}, "max_attempts"),
    ("Retry-After at the cap", {}, {"outcome": "overloaded", "retry_after": 1.0}, "retry"),
    ("Retry-After over the cap", {}, {"outcome": "overloaded", "retry_after": 1.5}, "retry_after_too_long"),
    ("Retry-After NaN", {}, {"retry_after": float("nan")}, "retry_after_too_long"),
    ("no deadline", {}, {"remaining": None}, "retry"),
    ("exactly min_remaining left", {}, {"remaining": 0.1}, "retry"),
    ("just under min_remaining", {}, {"remaining": 0.0999}, "deadline"),
    ("deadline passed", {}, {"remaining": -0.5}, "deadline"),
    ("remaining NaN", {}, {"remaining": float("nan")}, "deadline"),
    ("Retry-After fits before the deadline", {}, {"remaining": 0.5, "retry_after": 0.4}, "retry"),
    ("Retry-After outlives the deadline", {}, {"remaining": 0.5, "retry_after": 0.41}, "deadline"),
    ("min_remaining 0", {"min_remaining": 0.0}, {"remaining": 0.0}, "retry"),
]


@pytest.mark.parametrize(("policy", "call", "reason"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_decision_rules(policy: dict[str, Any], call: dict[str, Any], reason: str) -> None:
    """Each rule of RetryPolicy gives its reason, and only "retry" retries."""
    controller, _ = _controller(**policy)
    decision = _decide(controller, **call)
    assert decision.reason == reason
    assert decision.retry == (reason == "retry")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"])
def test_idempotent_methods_retry(method: str) -> None:
    """Every RFC 9110 idempotent method is retried without a flag."""
    controller, _ = _controller()
    assert _decide(controller, method=method).retry


def test_first_failing_rule_names_the_refusal() -> None:
    """Rules apply in order: a POST on its last attempt is refused as not idempotent."""
    controller, _ = _controller()
    assert _decide(controller, method="POST", attempt=3, remaining=0.0).reason == "not_idempotent"
    assert _decide(controller, attempt=3, remaining=0.0).reason == "max_attempts"


def test_timeout_ratio_stops_retries() -> None:
    """Above 20% timeouts over at least 10 recent calls, retries stop."""
    controller, _ = _controller()
    for _ in range(9):
        controller.record_outcome("ok")
    assert _decide(controller, outcome="timeout").reason == "retry"  # 1 of 10
    assert _decide(controller, outcome="timeout").reason == "retry"  # 2 of 11
    assert _decide(controller, outcome="timeout").reason == "timeout_ratio"  # 3 of 12


def test_timeout_ratio_needs_min_calls() -> None:
    """A few timeouts on a quiet client do not stop retries (the budget still bounds them)."""
    controller, _ = _controller()
    assert [_decide(controller, outcome="timeout").reason for _ in range(9)] == ["retry"] * 9
    assert _decide(controller, outcome="timeout").reason == "timeout_ratio"


def test_timeout_ratio_recovers_when_the_window_passes() -> None:
    """Once the timeouts are older than the window, retries resume."""
    controller, clock = _controller()
    for _ in range(10):
        controller.record_outcome("timeout")
    assert _decide(controller).reason == "timeout_ratio"
    clock.jump(10.0)
    assert _decide(controller).reason == "retry"


def test_budget_exhausted() -> None:
    """With no reserve, five requests at 20% pay for exactly one retry."""
    controller, _ = _controller(budget_min_retries_per_sec=0)
    assert _decide(controller).reason == "budget_exhausted"
    for _ in range(5):
        controller.record_request()
    assert _decide(controller).reason == "retry"
    assert _decide(controller).reason == "budget_exhausted"


def test_budget_is_asked_last() -> None:
    """A retry refused by another rule withdraws nothing from the budget."""
    controller, _ = _controller(budget_min_retries_per_sec=0)
    for _ in range(5):
        controller.record_request()
    for call in ({"method": "POST"}, {"attempt": 3}, {"remaining": 0.01}, {"retry_after": 9.0}):
        assert not _decide(controller, **call).retry
    assert controller.statistics().budget.withdrawals == 0
    assert _decide(controller).reason == "retry"


def test_custom_budget() -> None:
    """An injected budget is the one used: a NoopRetryBudget never runs out."""
    controller, _ = _controller(budget=NoopRetryBudget(), budget_min_retries_per_sec=0)
    assert all(_decide(controller).retry for _ in range(500))


def test_delay_is_full_jitter_backoff() -> None:
    """The delay is the backoff for the retry's number: up to 50 ms, then 100 ms, then 200 ms."""
    controller, _ = _controller(rng=_Top(), max_attempts=5)
    assert [_decide(controller, attempt=n).delay for n in (1, 2, 3)] == pytest.approx([0.05, 0.1, 0.2])


def test_delay_fits_the_deadline() -> None:
    """The backoff is drawn within the time left after min_remaining, so it never outlives the call."""
    controller, _ = _controller(rng=_Top(), max_attempts=10)
    decision = _decide(controller, attempt=6, remaining=0.13)
    assert decision.retry
    assert decision.delay == pytest.approx(0.03)


def test_retry_after_is_honoured() -> None:
    """With a Retry-After the delay is at least what the server asked for."""
    controller, _ = _controller(rng=_Bottom())
    decision = _decide(controller, outcome="overloaded", retry_after=0.8)
    assert (decision.retry, decision.delay) == (True, 0.8)


def test_backoff_longer_than_retry_after_wins() -> None:
    """A Retry-After shorter than the backoff drawn does not shorten it."""
    controller, _ = _controller(rng=_Top())
    assert _decide(controller, outcome="overloaded", retry_after=0.01).delay == pytest.approx(0.05)


def test_decide_records_the_outcome() -> None:
    """decide() records each attempt in the timeout window, except not-counted ones."""
    controller, _ = _controller()
    _decide(controller, outcome="ok")
    _decide(controller, outcome="timeout")
    _decide(controller, outcome="not_counted")
    stats = controller.statistics()
    assert stats.attempts == 3
    assert (stats.timeouts.calls, stats.timeouts.timeouts) == (2, 1)


def test_record_request_deposits() -> None:
    """record_request() credits the budget once per call."""
    controller, _ = _controller()
    controller.record_request()
    controller.record_request()
    stats = controller.statistics()
    assert (stats.requests, stats.budget.deposits) == (2, 2)


def test_attempt_must_be_positive() -> None:
    """attempt counts the attempt that just ended, so it starts at 1."""
    controller, _ = _controller()
    with pytest.raises(ValueError, match="attempt must be >= 1"):
        _decide(controller, attempt=0)


def test_statistics_count_decisions_by_reason() -> None:
    """statistics() counts retries and each kind of refusal; success is not a refusal."""
    controller, _ = _controller(budget_min_retries_per_sec=0)
    controller.record_request()
    _decide(controller, outcome="ok")
    _decide(controller, outcome="not_counted")
    _decide(controller, method="POST")
    _decide(controller, attempt=3)
    _decide(controller, retry_after=5.0)
    _decide(controller, remaining=0.0)
    _decide(controller)  # budget: one deposit buys 0.2 retries
    stats = controller.statistics()
    counts = (
        stats.retries,
        stats.not_retryable,
        stats.not_idempotent,
        stats.max_attempts,
        stats.retry_after_too_long,
        stats.deadline,
        stats.timeout_ratio,
        stats.budget_exhausted,
    )
    assert counts == (0, 1, 1, 1, 1, 1, 0, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.retries = 1  # type: ignore[misc]


def test_budget_bounds_retries_against_a_dead_dependency() -> None:
    """With every call failing at 100 calls/s for 30 s, attempts per call stay near 1.2 + reserve, not 3."""
    controller, clock = _controller(max_attempts=3)
    calls = attempts = 0
    for _ in range(3000):
        clock.jump(0.01)
        controller.record_request()
        calls += 1
        attempt = 1
        while True:
            attempts += 1
            if not _decide(controller, attempt=attempt).retry:
                break
            attempt += 1
    # Finagle's bound per ttl window: 20% of the deposits plus 10/s * 10 s of reserve.
    assert attempts / calls <= 1 + 0.2 + 10 / 100 + 0.02
    assert attempts / calls > 1.2


# Hedging ----------------------------------------------------------------------------------------


def _hedger(**policy: Any) -> RetryController:
    controller, _ = _controller(hedge=HedgePolicy(delay=0.05), **policy)
    return controller


HEDGE_RULES: list[tuple[str, dict[str, Any], str]] = [
    ("GET hedges", {}, "hedge"),
    ("POST does not", {"method": "POST"}, "not_idempotent"),
    ("POST with a key does", {"method": "POST", "idempotency_key": True}, "hedge"),
    ("one hedge already sent", {"hedges": 1}, "max_attempts"),
    ("too little time left", {"remaining": 0.05}, "deadline"),
    ("enough time left", {"remaining": 0.1}, "hedge"),
]


@pytest.mark.parametrize(("call", "reason"), [r[1:] for r in HEDGE_RULES], ids=[r[0] for r in HEDGE_RULES])
def test_hedge_rules(call: dict[str, Any], reason: str) -> None:
    """A hedge follows the retry rules that apply before an outcome."""
    kwargs: dict[str, Any] = {"hedges": 0, "method": "GET"} | call
    decision = _hedger().decide_hedge(**kwargs)
    assert decision.reason == reason
    assert decision.retry == (reason == "hedge")


def test_no_hedge_without_a_hedge_policy() -> None:
    """Hedging is off unless the policy has a HedgePolicy."""
    controller, _ = _controller()
    assert controller.decide_hedge(hedges=0, method="GET").reason == "not_retryable"


def test_hedge_withdraws_from_the_retry_budget() -> None:
    """Hedges and retries share the budget: a hedge spends the one retry five requests bought."""
    controller = _hedger(budget_min_retries_per_sec=0)
    for _ in range(5):
        controller.record_request()
    assert controller.decide_hedge(hedges=0, method="GET").retry
    assert controller.decide_hedge(hedges=0, method="GET").reason == "budget_exhausted"
    assert _decide(controller).reason == "budget_exhausted"
    assert controller.statistics().hedges == 1


def test_hedge_stops_with_timeouts() -> None:
    """No hedge while the recent timeout ratio is over the threshold."""
    controller = _hedger()
    for _ in range(10):
        controller.record_outcome("timeout")
    assert controller.decide_hedge(hedges=0, method="GET").reason == "timeout_ratio"


def test_budget_type_is_the_default() -> None:
    """Without an injected budget, the controller builds a RetryBudget from the policy."""
    controller, _ = _controller(budget_ttl=5.0, budget_min_retries_per_sec=2.0)
    stats = controller.statistics().budget
    assert (stats.ttl, stats.min_retries_per_sec, stats.balance) == (5.0, 2.0, 10)
