"""The retry decision: one place that applies every rule of a :class:`RetryPolicy`."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, Literal, final, get_args

from seawall._clock import MONOTONIC, Clock
from seawall.retry._backoff import Backoff
from seawall.retry._budget import Budget, RetryBudget, RetryBudgetStatistics
from seawall.retry._policy import Outcome, RetryPolicy
from seawall.retry._timeout_ratio import TimeoutRatio, TimeoutRatioStatistics

__all__ = ["RetryController", "RetryDecision", "RetryReason", "RetryStatistics"]

#: Why a decision came out as it did; stable strings, fit for a metric label.
#:
#: ``retry`` and ``hedge`` go ahead; ``ok`` means the attempt succeeded; the others name the
#: rule that said no (see :class:`RetryPolicy`).
RetryReason = Literal[
    "ok",
    "retry",
    "hedge",
    "not_retryable",
    "not_idempotent",
    "max_attempts",
    "retry_after_too_long",
    "deadline",
    "timeout_ratio",
    "budget_exhausted",
]


@final
@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do after an attempt: retry (after ``delay`` seconds) or not, and why."""

    retry: bool
    delay: float
    reason: RetryReason


# Refusals carry nothing but their reason, so one shared instance per reason will do.
_NO: Final[dict[str, RetryDecision]] = {
    r: RetryDecision(retry=False, delay=0.0, reason=r) for r in get_args(RetryReason)
}
_HEDGE: Final = RetryDecision(retry=True, delay=0.0, reason="hedge")


@final
@dataclass(frozen=True, slots=True)
class RetryStatistics:
    """A snapshot of a :class:`RetryController`: its decisions by reason, its budget and window."""

    #: Original requests (calls to ``record_request``).
    requests: int
    #: Attempt outcomes recorded (by ``decide`` or ``record_outcome``).
    attempts: int
    #: Retries granted.
    retries: int
    #: Hedges granted.
    hedges: int
    #: Refusals, by the rule that refused: the outcome is not retried (``ok`` not included).
    not_retryable: int
    #: ... the call is not idempotent.
    not_idempotent: int
    #: ... the call had used all its attempts (or hedges).
    max_attempts: int
    #: ... the server asked to wait longer than ``retry_after_cap``.
    retry_after_too_long: int
    #: ... too little of the deadline was left.
    deadline: int
    #: ... too many recent calls timed out.
    timeout_ratio: int
    #: ... the retry budget was empty.
    budget_exhausted: int
    #: The retry budget.
    budget: RetryBudgetStatistics
    #: The window of recent timeouts.
    timeouts: TimeoutRatioStatistics


@final
class RetryController:
    """Decides, attempt by attempt, whether an outbound call is retried; keeps the state for it.

    One controller per dependency. It owns the dependency's retry budget and its window of recent
    timeouts, and applies the rules of its :class:`RetryPolicy` (listed there, in order). The
    outbound transport makes one call per event:

    - :meth:`record_request` once per call (it deposits into the retry budget);
    - :meth:`decide` once per attempt, whatever the outcome (it records the outcome into the
      timeout window, then answers; after a success it answers ``retry=False, reason="ok"``);
    - :meth:`decide_hedge` when a hedge is due (hedges withdraw from the same budget), and
      :meth:`record_outcome` for a hedge's own outcome.

    The budget is asked last, so a retry refused for any other reason withdraws nothing. A
    granted retry's ``delay`` is a full-jitter backoff drawn within the time the deadline leaves
    after ``min_remaining``, or the server's ``Retry-After`` if that is longer.

    Not thread-safe: one per event loop.

    Args:
        policy: the rules; :class:`RetryPolicy` defaults if omitted.
        budget: a shared or custom budget (e.g. :class:`NoopRetryBudget`); by default a
            :class:`RetryBudget` built from the policy's ``budget_*`` fields.
        clock: the time source of the budget and the timeout window.
        rng: randomness for the backoff; pass a seeded ``random.Random`` in tests.

    Example::

        retries = RetryController(RetryPolicy())
        retries.record_request()
        attempt = 0
        while True:
            attempt += 1
            outcome, retry_after = await send()
            decision = retries.decide(
                attempt=attempt, method="GET", outcome=outcome, retry_after=retry_after,
                remaining=deadline.remaining(),
            )
            if not decision.retry:
                break
            await clock.sleep(decision.delay)
    """

    __slots__ = ("_attempts", "_backoff", "_budget", "_counts", "_policy", "_requests", "_timeouts")

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        budget: Budget | None = None,
        clock: Clock = MONOTONIC,
        rng: random.Random | None = None,
    ) -> None:
        p = policy if policy is not None else RetryPolicy()
        self._policy = p
        self._budget: Budget = (
            budget
            if budget is not None
            else RetryBudget(
                ttl=p.budget_ttl,
                min_retries_per_sec=p.budget_min_retries_per_sec,
                percent_can_retry=p.budget_percent_can_retry,
                clock=clock,
            )
        )
        self._timeouts = TimeoutRatio(
            threshold=p.timeout_threshold, window=p.timeout_window, min_calls=p.timeout_min_calls, clock=clock
        )
        self._backoff = Backoff(base=p.backoff_base, cap=p.backoff_cap, rng=rng)
        self._requests = 0
        self._attempts = 0
        self._counts: dict[str, int] = dict.fromkeys(get_args(RetryReason), 0)

    @property
    def policy(self) -> RetryPolicy:
        """The rules this controller applies."""
        return self._policy

    def record_request(self) -> None:
        """One original call begins: credit the retry budget. Call once per call, not per attempt."""
        self._requests += 1
        self._budget.deposit()

    def record_outcome(self, outcome: Outcome) -> None:
        """Record an attempt's outcome in the timeout window without deciding anything.

        :meth:`decide` does this itself; call it directly only for attempts that get no decision
        (a hedge). ``not_counted`` outcomes are left out of the window.
        """
        self._attempts += 1
        if outcome != "not_counted":
            self._timeouts.record(timed_out=outcome == "timeout")

    def _idempotent(self, method: str, idempotent: bool | None, idempotency_key: bool) -> bool:
        if idempotency_key:
            return True
        if idempotent is not None:
            return idempotent
        return method.upper() in self._policy.idempotent_methods

    def _no(self, reason: RetryReason) -> RetryDecision:
        self._counts[reason] += 1
        return _NO[reason]

    def decide(
        self,
        *,
        attempt: int,
        method: str,
        outcome: Outcome,
        idempotent: bool | None = None,
        idempotency_key: bool = False,
        retry_after: float | None = None,
        remaining: float | None = None,
    ) -> RetryDecision:
        """Record how an attempt ended and say whether to retry it; call once per attempt.

        A ``retry=True`` answer has already withdrawn one retry from the budget: go ahead with it
        after ``delay`` seconds.

        Args:
            attempt: attempts made so far in this call, the one that just ended included (>= 1).
            method: the HTTP method.
            outcome: how the attempt ended (see :data:`Outcome`).
            idempotent: the caller's word on this call: ``True`` allows retrying any method,
                ``False`` forbids retrying even a GET, ``None`` goes by the method.
            idempotency_key: the request carries an idempotency key, so the server deduplicates
                it: retryable whatever the method or ``idempotent`` says.
            retry_after: the server's ``Retry-After``, in seconds, if it sent one.
            remaining: seconds left before the call's deadline, ``None`` without one.
        """
        if attempt < 1:
            raise ValueError("attempt must be >= 1")
        self.record_outcome(outcome)
        if outcome == "ok":
            return self._no("ok")
        p = self._policy
        if outcome not in p.retry_on:
            return self._no("not_retryable")
        if not self._idempotent(method, idempotent, idempotency_key) and not (
            outcome == "connect_error" and p.connect_error_any_method
        ):
            return self._no("not_idempotent")
        if attempt >= p.max_attempts:
            return self._no("max_attempts")
        if retry_after is not None and not retry_after <= p.retry_after_cap:
            return self._no("retry_after_too_long")
        room = None
        if remaining is not None:
            # The next attempt must start with min_remaining left, after any wait.
            room = remaining - p.min_remaining
            if not room >= 0 or (retry_after is not None and retry_after > room):
                return self._no("deadline")
        if self._timeouts.exceeded():
            return self._no("timeout_ratio")
        if not self._budget.try_withdraw():
            return self._no("budget_exhausted")
        delay = self._backoff.delay(attempt - 1, within=room)
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        self._counts["retry"] += 1
        return RetryDecision(retry=True, delay=delay, reason="retry")

    def decide_hedge(
        self,
        *,
        hedges: int,
        method: str,
        idempotent: bool | None = None,
        idempotency_key: bool = False,
        remaining: float | None = None,
    ) -> RetryDecision:
        """Say whether to send a hedge now (the policy's hedge delay has passed unanswered).

        Hedges follow the retry rules that make sense before any outcome: hedging on, the call
        idempotent, fewer than ``max_hedges`` sent, ``min_remaining`` left, timeouts not over the
        threshold, and a withdrawal from the retry budget. A granted hedge has ``delay`` 0.

        Args:
            hedges: hedges already sent for this call.
            method: the HTTP method.
            idempotent: as for :meth:`decide`.
            idempotency_key: as for :meth:`decide`.
            remaining: seconds left before the call's deadline, ``None`` without one.
        """
        p = self._policy
        if p.hedge is None:
            return self._no("not_retryable")
        if not self._idempotent(method, idempotent, idempotency_key):
            return self._no("not_idempotent")
        if hedges >= p.hedge.max_hedges:
            return self._no("max_attempts")
        if remaining is not None and not remaining >= p.min_remaining:
            return self._no("deadline")
        if self._timeouts.exceeded():
            return self._no("timeout_ratio")
        if not self._budget.try_withdraw():
            return self._no("budget_exhausted")
        self._counts["hedge"] += 1
        return _HEDGE

    def statistics(self) -> RetryStatistics:
        """A frozen snapshot of the decisions made so far, the budget and the timeout window."""
        c = self._counts
        return RetryStatistics(
            requests=self._requests,
            attempts=self._attempts,
            retries=c["retry"],
            hedges=c["hedge"],
            not_retryable=c["not_retryable"],
            not_idempotent=c["not_idempotent"],
            max_attempts=c["max_attempts"],
            retry_after_too_long=c["retry_after_too_long"],
            deadline=c["deadline"],
            timeout_ratio=c["timeout_ratio"],
            budget_exhausted=c["budget_exhausted"],
            budget=self._budget.statistics(),
            timeouts=self._timeouts.statistics(),
        )

    def __repr__(self) -> str:
        return f"RetryController(policy={self._policy!r})"
