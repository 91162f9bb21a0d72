"""Retry and hedging configuration: frozen, validated at construction, no behaviour of their own."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal, final

from seawall.retry._backoff import _check as _check_backoff
from seawall.retry._budget import _check as _check_budget
from seawall.retry._timeout_ratio import DEFAULT_MIN_CALLS
from seawall.retry._timeout_ratio import _check as _check_timeouts

__all__ = ["IDEMPOTENT_METHODS", "RETRYABLE_OUTCOMES", "HedgePolicy", "Outcome", "RetryPolicy"]

#: How an attempt ended, as the outbound transport classifies it:
#:
#: - ``ok``: a response the caller should get (2xx/3xx, and 4xx other than 429);
#: - ``failure``: a 5xx other than an overloaded 503, or a broken connection after sending;
#: - ``timeout``: the attempt ran out of time;
#: - ``connect_error``: no connection was made, so the request was never sent;
#: - ``overloaded``: 429, or 503 (usually with ``Retry-After``): the server asked us to back off;
#: - ``not_counted``: the attempt says nothing about the dependency (e.g. cancelled by the
#:   caller); it is neither retried nor recorded.
Outcome = Literal["ok", "failure", "timeout", "connect_error", "overloaded", "not_counted"]

#: The outcomes retried by default (every failure kind).
RETRYABLE_OUTCOMES: Final[frozenset[Outcome]] = frozenset(
    {"failure", "timeout", "connect_error", "overloaded"}
)

#: Methods that RFC 9110 §9.2.2 defines as idempotent (CONNECT and PATCH are not).
IDEMPOTENT_METHODS: Final[frozenset[str]] = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


def _finite(name: str, value: float, *, positive: bool = False) -> None:
    if positive:
        if not 0.0 < value < math.inf:
            raise ValueError(f"{name} must be > 0 and finite")
    elif not 0.0 <= value < math.inf:
        raise ValueError(f"{name} must be >= 0 and finite")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class HedgePolicy:
    """Send a second copy of a slow idempotent call after ``delay`` seconds; first answer wins.

    Hedged requests ("The Tail at Scale", Dean and Barroso, 2013) cut tail latency when a few
    instances are slow. Each hedge is an extra attempt: it needs the same permission as a retry
    (idempotent call, enough deadline left, timeouts not dominating) and withdraws from the same
    retry budget, so hedging cannot multiply load on a struggling dependency.

    Args:
        delay: seconds to wait for the first attempt before hedging (> 0); typically the
            dependency's p95 latency.
        max_hedges: extra copies per call (>= 1); one is the usual and the default.

    Example::

        RetryPolicy(hedge=HedgePolicy(delay=0.05))
    """

    delay: float
    max_hedges: int = 1

    def __post_init__(self) -> None:
        _finite("delay", self.delay, positive=True)
        if self.max_hedges < 1:
            raise ValueError("max_hedges must be >= 1")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When an outbound call may be retried, and how long to wait first.

    The rules, in the order :meth:`RetryController.decide` applies them (each names the
    ``reason`` a refusal reports):

    1. the outcome is in ``retry_on`` (``not_retryable``);
    2. the call is idempotent: its method is in ``idempotent_methods``, or the caller said so,
       or it carries an idempotency key; a ``connect_error`` is exempt while
       ``connect_error_any_method`` holds, since the request was never sent
       (``not_idempotent``);
    3. fewer than ``max_attempts`` attempts were made (``max_attempts``);
    4. a ``Retry-After`` is at most ``retry_after_cap`` seconds (``retry_after_too_long``);
    5. at least ``min_remaining`` seconds of the deadline remain, and also after the wait
       (``deadline``);
    6. at most ``timeout_threshold`` of the recent calls timed out (``timeout_ratio``);
    7. the retry budget grants a withdrawal (``budget_exhausted``), asked last so that a retry
       refused for another reason costs nothing.

    Defaults: the seed's rules (no retry above 20% timeouts or under 100 ms left), Finagle's
    budget (10 s, 10 retries/s, 20%), 3 attempts in all, and backoff up to 50 ms, 100 ms, ...,
    1 s.

    Args:
        max_attempts: attempts per call including the first (>= 1; 1 turns retries off).
        retry_on: the outcomes worth retrying; a subset of :data:`RETRYABLE_OUTCOMES`.
        idempotent_methods: methods retried without a per-call flag (upper case).
        connect_error_any_method: retry a connection error whatever the method (the request
            never left), as Finagle's ``RequeueFilter`` requeues write exceptions.
        min_remaining: seconds of deadline a retry needs when it starts (>= 0).
        retry_after_cap: the longest ``Retry-After`` honoured, in seconds; a server asking for
            longer is not retried (>= 0).
        backoff_base: the first retry's backoff ceiling, in seconds (see :class:`Backoff`).
        backoff_cap: the largest backoff ceiling, in seconds.
        timeout_threshold: the share of timed-out calls above which retries stop, in [0, 1].
        timeout_window: seconds of history for that share.
        timeout_min_calls: calls in the window before the share can stop retries.
        budget_ttl: see :class:`RetryBudget` ``ttl``.
        budget_min_retries_per_sec: see :class:`RetryBudget` ``min_retries_per_sec``.
        budget_percent_can_retry: see :class:`RetryBudget` ``percent_can_retry``.
        hedge: hedging, off by default.

    Example::

        policy = RetryPolicy(max_attempts=2, min_remaining=0.2)
    """

    max_attempts: int = 3
    retry_on: frozenset[Outcome] = RETRYABLE_OUTCOMES
    idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS
    connect_error_any_method: bool = True
    min_remaining: float = 0.1
    retry_after_cap: float = 1.0
    backoff_base: float = 0.05
    backoff_cap: float = 1.0
    timeout_threshold: float = 0.2
    timeout_window: float = 10.0
    timeout_min_calls: int = DEFAULT_MIN_CALLS
    budget_ttl: float = 10.0
    budget_min_retries_per_sec: float = 10.0
    budget_percent_can_retry: float = 0.2
    hedge: HedgePolicy | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        retry_on = frozenset(self.retry_on)
        if not retry_on <= RETRYABLE_OUTCOMES:
            bad = sorted(retry_on - RETRYABLE_OUTCOMES)
            raise ValueError(f"retry_on may hold only {sorted(RETRYABLE_OUTCOMES)}, not {bad}")
        # Accept any iterable and any case; store the canonical frozen form.
        object.__setattr__(self, "retry_on", retry_on)
        object.__setattr__(self, "idempotent_methods", frozenset(m.upper() for m in self.idempotent_methods))
        _finite("min_remaining", self.min_remaining)
        _finite("retry_after_cap", self.retry_after_cap)
        _check_backoff(self.backoff_base, self.backoff_cap, prefix="backoff_")
        _check_timeouts(
            self.timeout_threshold, self.timeout_window, 1, self.timeout_min_calls, prefix="timeout_"
        )
        _check_budget(
            self.budget_ttl, self.budget_min_retries_per_sec, self.budget_percent_can_retry, prefix="budget_"
        )
