"""Adaptive breaker: Google SRE client-side throttling, as go-zero implements it.

Semantics follow go-zero's ``core/breaker/googlebreaker.go`` (read at commit 11f21098, 2026-08;
the algorithm last changed in go-zero#4151) on its ``core/collection/rollingwindow.go``; the formula
is the SRE book's, https://sre.google/sre-book/handling-overload/#eq2101.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final, final

from seawall._clock import MONOTONIC, Clock
from seawall.breaker._base import BreakerState, BreakerStatistics, BreakerTicket, TransitionListener

__all__ = ["AdaptiveBreaker", "AdaptiveBreakerStatistics"]

#: The bucket number of a ring slot that never held a bucket: older than any window.
_NEVER: Final = -(1 << 62)
_new = object.__new__


@dataclass(frozen=True, slots=True)
class AdaptiveBreakerStatistics(BreakerStatistics):
    """A snapshot of an :class:`AdaptiveBreaker` (the common fields, then the window's).

    Attributes:
        accepts: successes in the window.
        total: requests in the window: successes, failures and drops.
        failing_buckets: the trailing run of buckets with failures and no success.
        working_buckets: the trailing run of buckets with successes and no failure.
        weight: the K in force, lowered from ``k`` towards ``min_k`` by failing buckets.
        drop_ratio: the probability that ``allow()`` drops now (before the forced pass).
    """

    accepts: int
    total: int
    failing_buckets: int
    working_buckets: int
    weight: float
    drop_ratio: float


@final
class AdaptiveBreaker:
    """Drops a share of calls that grows as the dependency's recent success rate falls.

    There is no open/closed state machine: every ``allow()`` drops with probability

        ``max(0, (total - protection - K * accepts) / (total + 1))``

    over a rolling window (``total`` counts successes, failures and drops; ``accepts`` the
    successes), so a dependency that fails half of its calls keeps receiving about as many calls
    as it can answer, and recovery is seen as soon as successes come back (no fixed wait). Use it
    for calls to another service where a timely, gradual reaction matters more than a clean
    on/off switch; :class:`CircuitBreaker` is the state machine alternative.

    Follows go-zero's ``googleBreaker`` (``core/breaker/googlebreaker.go``), including:

    - ``protection`` (go-zero's 5) requests the formula forgives, so a quiet dependency is never
      throttled over its first failures;
    - K weighting: ``K = max(k - (k - min_k) * failing_buckets / buckets, min_k)``, where
      ``failing_buckets`` is the trailing run of buckets (oldest to newest; buckets with
      neither outcome skipped) with failures and no success: the longer the dependency has only failed, the
      closer K falls to ``min_k`` and the harder it is throttled;
    - working-bucket relief: the ratio is multiplied by ``(buckets - working_buckets) / buckets``,
      ``working_buckets`` being the trailing run of buckets with successes and no failure;
    - the forced pass: while dropping, a call is let through when more than ``force_pass``
      seconds passed since the last call let through this way or by chance, so a
      recovered dependency is noticed even when the ratio says drop.

    The window is ``buckets`` buckets of ``window / buckets`` seconds aligned to the breaker's
    creation, the current bucket included (go-zero's rolling window without
    ``IgnoreCurrentBucket``). Unlike go-zero, the window totals are kept incrementally, so
    ``allow()`` is O(1) (one O(buckets) pass per bucket of time); and K, ``min_k``, the window,
    ``protection`` and the forced pass are configurable (zeromicro/go-zero#5050).

    The reported :attr:`state` is ``"open"`` while the drop probability is above zero, else
    ``"closed"``; it is evaluated on ``allow()``, on reading :attr:`state` and on
    :meth:`statistics`, and ``on_transition`` is told when it changes.

    Not thread-safe: use one breaker per event loop (or guard it).

    Args:
        k: the SRE book's K (accepts multiplier); 2 is lenient, 1.1 aggressive. go-zero: 1.5.
        min_k: the floor K falls to while only failures come back. go-zero: 1.1.
        window: seconds of history. go-zero: 10.
        buckets: how many buckets the window is split into. go-zero: 40 (250 ms each).
        protection: requests in the window the formula forgives. go-zero: 5.
        force_pass: seconds after which a dropping breaker lets one call through; ``None``
            disables the forced pass. go-zero: 1.
        rng: the source of the drop decision (``random.Random``); seed it in tests.
        clock: the time source.
        on_transition: called as ``(old, new)`` when the state changes.

    Example::

        breaker = AdaptiveBreaker()
        ticket = breaker.allow()
        if ticket is None:
            raise CircuitOpen(retry_after=breaker.retry_after())
        ...
        ticket.success()  # or ticket.failure() on a 5xx / timeout, ticket.ignore() on a 4xx
    """

    __slots__ = (
        "_acc",
        "_bucket_width",
        "_buckets",
        "_calls",
        "_cur",
        "_cur_fail",
        "_dropping",
        "_excess",
        "_failures",
        "_force_pass",
        "_k",
        "_last_pass",
        "_listener",
        "_min_k",
        "_now",
        "_origin",
        "_prev_accepts",
        "_prev_failing",
        "_prev_total",
        "_prev_working",
        "_protection",
        "_random",
        "_rate",
        "_rejected",
        "_ring_fail",
        "_ring_no",
        "_ring_succ",
        "_ring_sum",
        "_roll_at",
        "_transitions",
        "_window",
    )

    def __init__(
        self,
        *,
        k: float = 1.5,
        min_k: float = 1.1,
        window: float = 10.0,
        buckets: int = 40,
        protection: int = 5,
        force_pass: float | None = 1.0,
        rng: random.Random | None = None,
        clock: Clock = MONOTONIC,
        on_transition: TransitionListener | None = None,
    ) -> None:
        if not 1 <= min_k < math.inf:
            raise ValueError("min_k must be >= 1 and finite")
        if not min_k <= k < math.inf:
            raise ValueError("k must be >= min_k and finite")
        if not 0 < window < math.inf:
            raise ValueError("window must be > 0 and finite")
        if buckets < 1:
            raise ValueError("buckets must be >= 1")
        if protection < 0:
            raise ValueError("protection must be >= 0")
        if force_pass is not None and not 0 < force_pass < math.inf:
            raise ValueError("force_pass must be > 0 and finite, or None")
        self._k = float(k)
        self._min_k = float(min_k)
        self._window = float(window)
        self._buckets = int(buckets)
        self._bucket_width = window / buckets
        self._rate = buckets / window  # buckets per second
        self._protection = int(protection)
        self._force_pass = force_pass
        self._random = (rng if rng is not None else random.Random()).random
        self._now = clock.now
        self._origin = clock.now()
        self._listener = on_transition
        self._calls = 0  # outcomes of the completed buckets (the current one's are added on read)
        self._failures = 0
        self._rejected = 0
        self._transitions = 0
        self._dropping = False
        self._last_pass: float | None = None
        # Completed buckets, in a ring indexed by bucket number % buckets; a slot is valid only
        # while its bucket number is inside the window (slots of idle buckets just go stale).
        self._ring_no = [_NEVER] * buckets
        self._ring_succ = [0] * buckets
        self._ring_fail = [0] * buckets
        self._ring_sum = [0] * buckets
        # The bucket being filled: its number and the time it ends (one comparison per call
        # tells whether to roll). Its successes and total are not kept apart: they are the
        # window's minus the completed buckets' (_prev_*).
        self._cur = 0
        self._roll_at = self._origin + self._bucket_width
        self._cur_fail = 0
        # Aggregates of the completed buckets still inside the window, refreshed on each roll.
        self._prev_accepts = 0
        self._prev_total = 0
        self._prev_failing = 0
        self._prev_working = 0
        # The whole window, kept as the hot path needs it: successes, and total - protection.
        self._acc = 0
        self._excess = -self._protection

    @property
    def state(self) -> BreakerState:
        """``"open"`` while calls are being dropped (drop probability above zero), else ``"closed"``."""
        self._observe(self._now())
        return "open" if self._dropping else "closed"

    def allow(self) -> BreakerTicket | None:
        """A ticket if the call may go ahead, ``None`` if it is dropped (counted as a request)."""
        now = self._now()
        if now >= self._roll_at:
            self._roll(now)
        # K never falls below min_k, so this bound proves a zero drop ratio without the streaks
        # (bench/breaker.py: the healthy path must stay within a few hundred ns).
        if self._excess <= self._min_k * self._acc:
            if self._dropping:
                self._set_dropping(dropping=False)
            # Built without __init__: ~35 ns less per call on CPython 3.11 (bench/breaker.py).
            ticket = _new(BreakerTicket)
            ticket._owner = self
            ticket._start = now
            ticket._epoch = 0
            return ticket
        return self._decide(now)

    def _decide(self, now: float) -> BreakerTicket | None:
        raw, ratio, _, _, _ = self._ratios()
        if (ratio > 0) is not self._dropping:
            self._set_dropping(dropping=ratio > 0)
        if raw <= 0:
            return BreakerTicket(self, now)
        # go-zero's order: the forced pass is checked before drawing, and consumes no number.
        last = self._last_pass
        if last is not None and self._force_pass is not None and now - last > self._force_pass:
            self._last_pass = now
            return BreakerTicket(self, now)
        if self._random() < ratio:
            self._excess += 1  # a drop is a request (go-zero's markDrop)
            self._rejected += 1
            return None
        self._last_pass = now
        return BreakerTicket(self, now)

    def _ratios(self) -> tuple[float, float, float, int, int]:
        """go-zero's ``dropRatio`` over the window, as the formula gives it and after the
        working-bucket relief (0.0 unless the formula is above zero), with the K used and the
        failing and working runs. One flat function: every rejected call runs it."""
        cur_succ = self._acc - self._prev_accepts
        cur_fail = self._cur_fail
        failing, working = self._prev_failing, self._prev_working
        if cur_fail:
            working = 0
        elif cur_succ:
            working += 1
        if cur_succ:
            failing = 0
        elif cur_fail:
            failing += 1
        k, min_k, n = self._k, self._min_k, self._buckets
        weight = max(k - (k - min_k) * failing / n, min_k)
        # (total - protection - K * accepts) / (total + 1), where _excess = total - protection
        raw = (self._excess - weight * self._acc) / (self._excess + self._protection + 1)
        ratio = raw * (n - working) / n if raw > 0 else 0.0
        return raw, ratio, weight, failing, working

    def _set_dropping(self, *, dropping: bool) -> None:
        if dropping is not self._dropping:
            self._dropping = dropping
            self._transitions += 1
            if self._listener is not None:
                if dropping:
                    self._listener("closed", "open")
                else:
                    self._listener("open", "closed")

    def _observe(self, now: float) -> float:
        """Bring the window up to ``now`` and update the state; return the drop probability."""
        if now >= self._roll_at:
            self._roll(now)
        ratio = self._ratios()[1]
        self._set_dropping(dropping=ratio > 0)
        return ratio

    def _roll(self, now: float) -> None:
        n = self._buckets
        cur = self._cur
        cur_sum = self._excess + self._protection - self._prev_total
        # Lifetime counters are folded in once per bucket, not counted per outcome.
        self._calls += self._acc - self._prev_accepts + self._cur_fail
        self._failures += self._cur_fail
        if cur_sum:
            slot = cur % n
            self._ring_no[slot] = cur
            self._ring_succ[slot] = self._acc - self._prev_accepts
            self._ring_fail[slot] = self._cur_fail
            self._ring_sum[slot] = cur_sum
        # At least one bucket on: _roll_at said this one is over, whatever the rounding here.
        bucket = max(int((now - self._origin) * self._rate), cur + 1)
        self._cur = bucket
        self._roll_at = self._origin + (bucket + 1) * self._bucket_width
        self._cur_fail = 0
        # Oldest to newest, as go-zero's Reduce: a bucket with both outcomes ends both runs;
        # empty (or drop-only) buckets end neither.
        accepts = total = failing = working = 0
        ring_no, ring_succ, ring_fail = self._ring_no, self._ring_succ, self._ring_fail
        for number in range(bucket - n + 1, bucket):
            slot = number % n
            if ring_no[slot] != number:
                continue
            succ, fail = ring_succ[slot], ring_fail[slot]
            accepts += succ
            total += self._ring_sum[slot]
            if fail:
                working = 0
            elif succ:
                working += 1
            if succ:
                failing = 0
            elif fail:
                failing += 1
        self._prev_accepts = self._acc = accepts
        self._prev_total = total
        self._excess = total - self._protection
        self._prev_failing = failing
        self._prev_working = working

    # Called by BreakerTicket (the _Owner protocol), not by users.
    def _on_success(self, start: float, epoch: int, duration: float | None) -> None:
        now = self._now()
        if now >= self._roll_at:
            self._roll(now)
        self._acc += 1
        self._excess += 1

    def _on_failure(self, start: float, epoch: int, duration: float | None) -> None:
        now = self._now()
        if now >= self._roll_at:
            self._roll(now)
        self._cur_fail += 1
        self._excess += 1

    def _on_ignore(self, epoch: int) -> None:
        pass

    def retry_after(self) -> float:
        """0.0 when not dropping; else seconds until the next forced pass lets a call through.

        A dropping breaker may let any call through by chance; the forced pass is the first
        moment one is certain. With no forced pass due (none enabled, or no call let through
        since dropping began) it is the bucket width, the soonest the window changes.
        """
        now = self._now()
        if self._observe(now) <= 0:
            return 0.0
        last = self._last_pass
        if last is None or self._force_pass is None:
            return self._bucket_width
        return max(0.0, last + self._force_pass - now)

    def statistics(self) -> AdaptiveBreakerStatistics:
        ratio = self._observe(self._now())
        _, _, weight, failing, working = self._ratios()
        return AdaptiveBreakerStatistics(
            state="open" if self._dropping else "closed",
            calls=self._calls + self._acc - self._prev_accepts + self._cur_fail,
            failures=self._failures + self._cur_fail,
            rejected=self._rejected,
            transitions=self._transitions,
            accepts=self._acc,
            total=self._excess + self._protection,
            failing_buckets=failing,
            working_buckets=working,
            weight=weight,
            drop_ratio=ratio,
        )

    def __repr__(self) -> str:
        return (
            f"AdaptiveBreaker(k={self._k!r}, window={self._window!r}, buckets={self._buckets!r}, "
            f"protection={self._protection!r}, dropping={self._dropping!r})"
        )
