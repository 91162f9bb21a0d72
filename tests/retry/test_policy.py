"""Tests for seawall.retry.RetryPolicy and HedgePolicy."""

from __future__ import annotations

import dataclasses
import math

import pytest

from seawall.retry import IDEMPOTENT_METHODS, RETRYABLE_OUTCOMES, HedgePolicy, RetryPolicy


def test_defaults() -> None:
    """Defaults: 3 attempts, the seed's 100 ms / 20% rules, Finagle's budget, a 1 s Retry-After cap."""
    p = RetryPolicy()
    assert p.max_attempts == 3
    assert (p.min_remaining, p.timeout_threshold) == (0.1, 0.2)
    assert (p.timeout_window, p.timeout_min_calls) == (10.0, 10)
    assert (p.budget_ttl, p.budget_min_retries_per_sec, p.budget_percent_can_retry) == (10.0, 10.0, 0.2)
    assert (p.retry_after_cap, p.backoff_base, p.backoff_cap) == (1.0, 0.05, 1.0)
    assert p.retry_on == RETRYABLE_OUTCOMES == {"failure", "timeout", "connect_error", "overloaded"}
    assert p.connect_error_any_method
    assert p.hedge is None


def test_idempotent_methods_are_rfc_9110s() -> None:
    """The default idempotent methods are RFC 9110's: GET HEAD OPTIONS PUT DELETE TRACE, not POST/PATCH."""
    assert {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"} == IDEMPOTENT_METHODS
    assert RetryPolicy().idempotent_methods == IDEMPOTENT_METHODS


def test_is_frozen() -> None:
    """A policy cannot be changed after construction."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        RetryPolicy().max_attempts = 5  # type: ignore[misc]


def test_keyword_only() -> None:
    """Every field is passed by keyword."""
    with pytest.raises(TypeError):
        RetryPolicy(3)  # type: ignore[call-arg]


def test_normalises_collections() -> None:
    """retry_on becomes a frozenset and idempotent methods are upper-cased."""
    p = RetryPolicy(retry_on={"timeout"}, idempotent_methods=["get", "Post"])  # type: ignore[arg-type]
    assert p.retry_on == frozenset({"timeout"})
    assert isinstance(p.retry_on, frozenset)
    assert p.idempotent_methods == frozenset({"GET", "POST"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be >= 1"),
        ({"retry_on": {"ok"}}, "retry_on may hold only"),
        ({"retry_on": {"not_counted"}}, "retry_on may hold only"),
        ({"min_remaining": -0.1}, "min_remaining must be >= 0 and finite"),
        ({"min_remaining": math.nan}, "min_remaining must be >= 0 and finite"),
        ({"retry_after_cap": math.inf}, "retry_after_cap must be >= 0 and finite"),
        ({"backoff_base": 0}, "backoff_base must be > 0 and finite"),
        ({"backoff_cap": 0.01}, "backoff_cap must be >= backoff_base"),
        ({"timeout_threshold": 1.5}, "timeout_threshold must be in"),
        ({"timeout_window": 0}, "timeout_window must be > 0 and finite"),
        ({"timeout_min_calls": 0}, "timeout_min_calls must be >= 1"),
        ({"budget_ttl": 0.5}, "budget_ttl must be in"),
        ({"budget_min_retries_per_sec": -1}, "budget_min_retries_per_sec must be >= 0"),
        ({"budget_percent_can_retry": math.nan}, "budget_percent_can_retry must be in"),
    ],
)
def test_rejects_invalid_values(kwargs: dict[str, object], message: str) -> None:
    """Each invalid field fails at construction, named as the policy names it."""
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_hedge_policy() -> None:
    """A hedge policy holds a delay and allows one hedge by default."""
    hedge = HedgePolicy(delay=0.05)
    assert (hedge.delay, hedge.max_hedges) == (0.05, 1)
    assert RetryPolicy(hedge=hedge).hedge is hedge


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delay": 0}, "delay must be > 0 and finite"),
        ({"delay": math.inf}, "delay must be > 0 and finite"),
        ({"delay": math.nan}, "delay must be > 0 and finite"),
        ({"delay": 0.1, "max_hedges": 0}, "max_hedges must be >= 1"),
    ],
)
def test_hedge_policy_rejects_invalid_values(kwargs: dict[str, float], message: str) -> None:
    """A hedge needs a positive finite delay and at least one hedge."""
    with pytest.raises(ValueError, match=message):
        HedgePolicy(**kwargs)  # type: ignore[arg-type]
