"""Retries for outbound calls, within limits: a budget, a timeout window, backoff, one decision.

A retry helps a call that failed by chance and hurts a dependency that fails for a reason: the
load it adds arrives exactly when the dependency can least take it. This package decides, per
attempt, whether a retry is worth its cost:

- :class:`RetryBudget`: retries as a share of recent requests plus a small reserve (Finagle's
  ``RetryBudget``); :class:`NoopRetryBudget` always allows.
- :class:`TimeoutRatio`: the share of recent calls that timed out (the seed's "no retry above
  20% timeouts").
- :class:`Backoff`: full-jitter exponential backoff (AWS), bounded by the time a deadline leaves.
- :class:`RetryPolicy` and :class:`HedgePolicy`: frozen, validated configuration.
- :class:`RetryController`: applies every rule and returns a :class:`RetryDecision` with a stable
  ``reason`` for metrics.

Everything here is pure: no I/O, no sleeping, no global state; time comes from an injected clock
and randomness from an injected ``random.Random``. Sending the attempts (and waiting between
them) is the outbound transport's job, not this package's.
"""

from __future__ import annotations

from seawall.retry._backoff import Backoff
from seawall.retry._budget import Budget, NoopRetryBudget, RetryBudget, RetryBudgetStatistics
from seawall.retry._controller import RetryController, RetryDecision, RetryReason, RetryStatistics
from seawall.retry._policy import IDEMPOTENT_METHODS, RETRYABLE_OUTCOMES, HedgePolicy, Outcome, RetryPolicy
from seawall.retry._timeout_ratio import TimeoutRatio, TimeoutRatioStatistics

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRYABLE_OUTCOMES",
    "Backoff",
    "Budget",
    "HedgePolicy",
    "NoopRetryBudget",
    "Outcome",
    "RetryBudget",
    "RetryBudgetStatistics",
    "RetryController",
    "RetryDecision",
    "RetryPolicy",
    "RetryReason",
    "RetryStatistics",
    "TimeoutRatio",
    "TimeoutRatioStatistics",
]
