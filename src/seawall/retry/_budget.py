"""Retry budget: retries as a bounded share of recent requests, plus a small reserve.

Semantics follow Finagle's ``TokenRetryBudget`` (finagle-core
``com/twitter/finagle/service/RetryBudget.scala``) on twitter/util's leaky ``TokenBucket``
(``util-core/.../TokenBucket.scala``, ``WindowedAdder.scala``).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Final, Protocol, final, runtime_checkable

from seawall._clock import MONOTONIC, Clock

__all__ = ["Budget", "NoopRetryBudget", "RetryBudget", "RetryBudgetStatistics"]

#: Finagle's ``TokenRetryBudget.ScaleFactor``: a deposit is worth this many tokens and a
#: withdrawal ``SCALE / percent_can_retry``, so the budget counts in integers (100 deposits at
#: 20% buy exactly 20 retries; floats would make the 20th depend on rounding).
_SCALE: Final = 1000
#: Finagle's leaky bucket keeps its ``WindowedAdder`` in 10 slices of ``ttl / 10``.
_SLICES: Final = 10


def _check(ttl: float, min_retries_per_sec: float, percent_can_retry: float, *, prefix: str = "") -> None:
    """Validate a budget; ``prefix`` names the parameters as :class:`RetryPolicy` fields."""
    if not 1.0 <= ttl <= 60.0:  # also rejects NaN
        raise ValueError(f"{prefix}ttl must be in [1, 60] seconds")
    if not 0.0 <= min_retries_per_sec < math.inf:
        raise ValueError(f"{prefix}min_retries_per_sec must be >= 0 and finite")
    if not 0.0 <= percent_can_retry <= _SCALE:
        raise ValueError(f"{prefix}percent_can_retry must be in [0, {_SCALE}]")


@final
@dataclass(frozen=True, slots=True)
class RetryBudgetStatistics:
    """A snapshot of a retry budget."""

    #: Retries that could be withdrawn now.
    balance: int
    #: Calls to ``deposit`` (original requests).
    deposits: int
    #: Calls to ``try_withdraw`` that were granted (retries allowed).
    withdrawals: int
    #: Calls to ``try_withdraw`` that were refused (retries the budget stopped).
    rejected: int
    #: Seconds a deposit (or a withdrawal) counts for.
    ttl: float
    #: Retries per second allowed with no traffic at all.
    min_retries_per_sec: float
    #: Retries allowed per deposit (0.2: one retry per five requests).
    percent_can_retry: float


@runtime_checkable
class Budget(Protocol):
    """What a retry loop needs from a budget: credit per request, a debit per retry."""

    def deposit(self) -> None:
        """Credit one original request (call it once per request, never per retry)."""
        ...

    def try_withdraw(self) -> bool:
        """Debit one retry if the balance allows it; on ``False`` the balance is untouched."""
        ...

    @property
    def balance(self) -> int:
        """Retries that could be withdrawn now."""
        ...

    def statistics(self) -> RetryBudgetStatistics:
        """A frozen snapshot."""
        ...


@final
class RetryBudget:
    """Allow retries for about ``percent_can_retry`` of recent requests, plus a minimum reserve.

    A retry budget bounds the load that retries add to a struggling dependency: when every call
    fails, a client with 3 attempts per call triples its traffic, while one with a 20% budget adds
    at most 20% (plus the reserve). Call :meth:`deposit` once per original request and
    :meth:`try_withdraw` once per retry; a refused withdrawal means "do not retry".

    This is Finagle's ``TokenRetryBudget`` (``RetryBudget.scala``): a leaky token bucket whose
    tokens expire. Each deposit adds 1000 tokens, each withdrawal takes ``1000 / percent_can_retry``
    (rounded down), and both are kept in a window of 10 slices of ``ttl / 10`` seconds, so a
    deposit (and a withdrawal) counts for between 0.9 ``ttl`` and ``ttl`` seconds. On top of the
    window sits a constant reserve of ``min_retries_per_sec * ttl`` retries (rounded down): a
    client that has just started, or sends few requests, can still retry that many times per
    ``ttl``. Finagle's defaults: ``ttl`` 10 s, 10 retries/s, 20%.

    Deliberate differences: ``ttl`` and ``min_retries_per_sec`` may be fractional (Finagle takes
    whole seconds and an integer rate); slices are aligned to the clock rather than to the time of
    the last expiry; :attr:`balance` never goes below 0 (Finagle's can, briefly, when deposits
    expire before the withdrawals they paid for).

    Not thread-safe: use one budget per event loop, as the outbound transport does.

    Args:
        ttl: seconds deposits count for, in [1, 60].
        min_retries_per_sec: retries per second granted with no traffic (>= 0).
        percent_can_retry: retries per deposit, in [0, 1000]; 0.2 means one retry per five
            requests. With both this and ``min_retries_per_sec`` at 0 no retry is ever allowed.
        clock: the time source; tests pass :class:`seawall.testing.MockClock`.

    Example::

        budget = RetryBudget()
        budget.deposit()                # once per call
        ...
        if failed and budget.try_withdraw():
            ...                         # retry
    """

    __slots__ = (
        "_clock",
        "_deposit",
        "_deposits",
        "_head",
        "_min_retries_per_sec",
        "_percent",
        "_rejected",
        "_reserve",
        "_slice",
        "_slots",
        "_total",
        "_ttl",
        "_withdraw",
        "_withdrawals",
    )

    def __init__(
        self,
        *,
        ttl: float = 10.0,
        min_retries_per_sec: float = 10.0,
        percent_can_retry: float = 0.2,
        clock: Clock = MONOTONIC,
    ) -> None:
        _check(ttl, min_retries_per_sec, percent_can_retry)
        self._ttl = float(ttl)
        self._min_retries_per_sec = float(min_retries_per_sec)
        self._percent = float(percent_can_retry)
        # With percent 0 every token comes from the reserve, one per retry (as in Finagle).
        self._deposit = 0 if percent_can_retry == 0 else _SCALE
        self._withdraw = 1 if percent_can_retry == 0 else int(_SCALE / percent_can_retry)
        self._reserve = int(min_retries_per_sec * ttl) * self._withdraw
        self._clock = clock
        self._slice = self._ttl / _SLICES
        # A ring of slices as in SlidingWindow: slot i holds the newest slice whose ordinal is
        # ≡ i (mod 10) and <= _head; _total is their sum.
        self._head = math.floor(clock.now() / self._slice)
        self._slots = [0] * _SLICES
        self._total = 0
        self._deposits = 0
        self._withdrawals = 0
        self._rejected = 0

    def _sync(self) -> int:
        head = math.floor(self._clock.now() / self._slice)
        if head > self._head:
            slots = self._slots
            for ordinal in range(max(self._head + 1, head - _SLICES + 1), head + 1):
                i = ordinal % _SLICES
                self._total -= slots[i]
                slots[i] = 0
            self._head = head
        return self._head % _SLICES

    def deposit(self) -> None:
        """Credit one original request; it buys ``percent_can_retry`` retries for about ``ttl``."""
        i = self._sync()
        self._slots[i] += self._deposit
        self._total += self._deposit
        self._deposits += 1

    def try_withdraw(self) -> bool:
        """Take one retry if the balance allows it; otherwise take nothing and return False."""
        i = self._sync()
        if self._total + self._reserve >= self._withdraw:
            self._slots[i] -= self._withdraw
            self._total -= self._withdraw
            self._withdrawals += 1
            return True
        self._rejected += 1
        return False

    @property
    def balance(self) -> int:
        """Retries that could be withdrawn now (never negative)."""
        self._sync()
        return max(0, (self._total + self._reserve) // self._withdraw)

    @property
    def ttl(self) -> float:
        """Seconds a deposit counts for."""
        return self._ttl

    def statistics(self) -> RetryBudgetStatistics:
        """A frozen snapshot; reading it changes nothing observable."""
        return RetryBudgetStatistics(
            balance=self.balance,
            deposits=self._deposits,
            withdrawals=self._withdrawals,
            rejected=self._rejected,
            ttl=self._ttl,
            min_retries_per_sec=self._min_retries_per_sec,
            percent_can_retry=self._percent,
        )

    def __repr__(self) -> str:
        return (
            f"RetryBudget(ttl={self._ttl!r}, min_retries_per_sec={self._min_retries_per_sec!r}, "
            f"percent_can_retry={self._percent!r}, balance={self.balance!r})"
        )


#: What "unlimited" reads as in a no-op budget's balance.
_UNLIMITED: Final = sys.maxsize
_NOOP_STATS: Final = RetryBudgetStatistics(
    balance=_UNLIMITED,
    deposits=0,
    withdrawals=0,
    rejected=0,
    ttl=0.0,
    min_retries_per_sec=0.0,
    percent_can_retry=0.0,
)


@final
class NoopRetryBudget:
    """A :class:`Budget` that always allows a retry (Finagle's ``RetryBudget.Infinite``).

    Use it where retries are bounded by other means (``max_attempts`` only). It keeps no
    accounting; its balance reads as ``sys.maxsize``.
    """

    __slots__ = ()

    def deposit(self) -> None:
        """Nothing to credit."""

    def try_withdraw(self) -> bool:
        """Always."""
        return True

    @property
    def balance(self) -> int:
        """Unlimited, as ``sys.maxsize``."""
        return _UNLIMITED

    def statistics(self) -> RetryBudgetStatistics:
        return _NOOP_STATS

    def __repr__(self) -> str:
        return "NoopRetryBudget()"
