"""Circuit breaker state machine with resilience4j's semantics.

Follows resilience4j's ``CircuitBreakerStateMachine`` and ``CircuitBreakerMetrics``
(``resilience4j-circuitbreaker/.../internal/``), ``CircuitBreakerConfig`` and the sliding windows
of ``resilience4j-core/.../metrics/`` (``FixedSizeSlidingWindowMetrics``,
``SlidingTimeWindowMetrics``), read at commit af9e7c97 (2026-05).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal, final

from seawall._clock import MONOTONIC, Clock
from seawall.breaker._base import BreakerState, BreakerStatistics, BreakerTicket, TransitionListener

__all__ = ["CircuitBreaker", "CircuitBreakerStatistics"]

_CLOSED: Final = 0
_OPEN: Final = 1
_HALF_OPEN: Final = 2
_FORCED_OPEN: Final = 3
_DISABLED: Final = 4
_NAMES: Final[tuple[BreakerState, ...]] = ("closed", "open", "half_open", "forced_open", "disabled")

# A count-window slot holds one outcome as bits; 0 is an empty slot.
_CALL: Final = 1
_FAILED: Final = 2
_SLOW: Final = 4

#: The newest second of a time window that has seen no call: older than any window.
_NEVER: Final = -(1 << 62)

# Disabled breakers hand out tickets that report to nobody.
_new = object.__new__
_NOOP_TICKET: Final = BreakerTicket(None, 0.0)


@dataclass(frozen=True, slots=True)
class CircuitBreakerStatistics(BreakerStatistics):
    """A snapshot of a :class:`CircuitBreaker` (the common fields, then its own).

    Attributes:
        slow_calls: outcomes slower than ``slow_call_duration`` since creation.
        buffered_calls: outcomes in the window the thresholds are checked on: the sliding window
            when closed, the probes' when half-open, whichever opened the breaker when open;
            zero when forced open or disabled.
        buffered_failures: failures among them.
        buffered_slow_calls: slow calls among them.
        failure_rate: ``100 * buffered_failures / buffered_calls``, or ``None`` while fewer
            calls than the minimum are buffered (resilience4j reports -1).
        slow_call_rate: likewise for slow calls.
        attempts: consecutive openings (the exponent of the open wait); 0 once closed.
        half_open_permits: probes that may still start (half-open only, else 0).
        retry_after: what :meth:`CircuitBreaker.retry_after` answers now.
    """

    slow_calls: int
    buffered_calls: int
    buffered_failures: int
    buffered_slow_calls: int
    failure_rate: float | None
    slow_call_rate: float | None
    attempts: int
    half_open_permits: int
    retry_after: float


@final
class CircuitBreaker:
    """Opens after the failure (or slow-call) rate of recent calls reaches a threshold, rejects
    calls while open, then lets a few probe calls decide whether to close again.

    States, as in resilience4j's ``CircuitBreakerStateMachine``:

    - **closed**: every call is allowed; outcomes fill a sliding window, either the last
      ``window_size`` calls (``window_type="count"``) or the calls of the last ``window_size``
      seconds, in one-second buckets aligned to the clock's whole seconds (``"time"``). Once the
      window holds at least ``minimum_calls`` outcomes (count windows:
      ``min(minimum_calls, window_size)``), the breaker opens when the failure rate is **at or
      above** ``failure_rate_threshold`` percent, or the share of calls slower than
      ``slow_call_duration`` is at or above ``slow_call_rate_threshold`` percent.
    - **open**: every call is rejected for ``wait_duration_in_open`` seconds, times
      ``wait_multiplier ** (attempts - 1)`` capped at ``max_wait_in_open`` where ``attempts`` counts
      the openings since the breaker was last closed (resilience4j's exponential
      ``IntervalFunction``). The first ``allow()`` after the wait moves to half-open (lazily: no
      timer; :attr:`state` reads ``"open"`` until then).
    - **half_open**: ``permitted_calls_in_half_open`` probe calls are allowed, the next ones are
      rejected until the probes decide: after ``min(minimum_calls, permitted_calls_in_half_open)``
      probe outcomes the thresholds are checked on the probes alone; at or above → open again
      (longer wait if exponential), below → closed with an empty window. A probe whose outcome
      is ignored gives its permit back. With ``max_wait_in_half_open`` set, a breaker still
      half-open that long moves to open at the next ``allow()``.
    - **forced_open** / **disabled**: operator states, left only by :meth:`reset`/:meth:`close`
      (or each other): forced open rejects everything, disabled allows everything and
      counts nothing.

    Defaults differ from resilience4j's where those suit high-volume JVM clients more than
    microservice calls: ``minimumNumberOfCalls`` 100 (a low-traffic dependency needs 100 calls
    before the breaker can open at all) and ``waitDurationInOpenState`` 60 s (a blip costs a
    minute of rejections). Here ``minimum_calls=20`` and ``wait_duration_in_open=5`` s; and
    ``slow_call_duration=5`` s where resilience4j has 60 s, which never fires behind request
    deadlines. Unchanged: the 100-call count window, failure threshold 50 %, slow-call threshold
    100 %, 10 half-open probes, a constant wait, no ``max_wait_in_half_open``.

    One deliberate difference: an outcome counts only in the state its call was allowed in. A
    call allowed while closed that finishes after the breaker opened (or closed again with a
    fresh window) counts in :meth:`statistics`' totals but in no window, so stragglers cannot
    decide a half-open probe round (resilience4j records them in whatever state is current).
    The open wait ends at ``>=`` (resilience4j: strictly after), so a caller that waits
    :meth:`retry_after` seconds is let in.

    Not thread-safe: use one breaker per event loop (or guard it).

    Args:
        window_type: ``"count"`` (last ``window_size`` calls) or ``"time"`` (last
            ``window_size`` seconds).
        window_size: calls, or whole seconds.
        minimum_calls: outcomes the window needs before it can open the breaker.
        failure_rate_threshold: percent in (0, 100]; at or above it opens.
        slow_call_rate_threshold: percent in (0, 100]; at or above it opens.
        slow_call_duration: seconds above which a call is slow.
        wait_duration_in_open: seconds the first opening lasts.
        wait_multiplier: growth of the wait per consecutive opening (1 = constant).
        max_wait_in_open: cap of the grown wait; ``None`` for no cap.
        permitted_calls_in_half_open: probe calls allowed in half-open.
        max_wait_in_half_open: seconds after which a half-open breaker opens again; ``None``
            waits for the probes however long they take.
        clock: the time source.
        on_transition: called as ``(old, new)`` on every state change.

    Example::

        breaker = CircuitBreaker(failure_rate_threshold=50, minimum_calls=20)
        ticket = breaker.allow()
        if ticket is None:
            raise CircuitOpen(retry_after=breaker.retry_after())
        ...
        ticket.success()  # or ticket.failure() on a 5xx / timeout, ticket.ignore() on a 4xx
    """

    __slots__ = (
        "_attempts",
        "_b_calls",
        "_b_fail",
        "_b_slow",
        "_calls",
        "_epoch",
        "_failures",
        "_fr",
        "_h_calls",
        "_h_fail",
        "_h_slow",
        "_half_open_since",
        "_head",
        "_listener",
        "_max_half_open",
        "_max_wait",
        "_min_calls",
        "_min_probes",
        "_multiplier",
        "_now",
        "_open_until",
        "_permits",
        "_permits_left",
        "_probes_opened",
        "_rejected",
        "_ring",
        "_ring_epoch",
        "_slow",
        "_slow_calls",
        "_sr",
        "_state",
        "_t_calls",
        "_t_fail",
        "_t_head",
        "_t_roll_at",
        "_t_slot",
        "_t_slow",
        "_time_based",
        "_transitions",
        "_wait",
        "_wait_now",
        "_window_size",
    )

    def __init__(
        self,
        *,
        window_type: Literal["count", "time"] = "count",
        window_size: int = 100,
        minimum_calls: int = 20,
        failure_rate_threshold: float = 50.0,
        slow_call_rate_threshold: float = 100.0,
        slow_call_duration: float = 5.0,
        wait_duration_in_open: float = 5.0,
        wait_multiplier: float = 1.0,
        max_wait_in_open: float | None = None,
        permitted_calls_in_half_open: int = 10,
        max_wait_in_half_open: float | None = None,
        clock: Clock = MONOTONIC,
        on_transition: TransitionListener | None = None,
    ) -> None:
        if window_type not in ("count", "time"):
            raise ValueError("window_type must be 'count' or 'time'")
        if window_size < 1:
            raise ValueError("window_size must be >= 1")
        if minimum_calls < 1:
            raise ValueError("minimum_calls must be >= 1")
        if not 0 < failure_rate_threshold <= 100:
            raise ValueError("failure_rate_threshold must be in (0, 100]")
        if not 0 < slow_call_rate_threshold <= 100:
            raise ValueError("slow_call_rate_threshold must be in (0, 100]")
        if not 0 < slow_call_duration < math.inf:
            raise ValueError("slow_call_duration must be > 0 and finite")
        if not 0 < wait_duration_in_open < math.inf:
            raise ValueError("wait_duration_in_open must be > 0 and finite")
        if not 1 <= wait_multiplier < math.inf:
            raise ValueError("wait_multiplier must be >= 1 and finite")
        if max_wait_in_open is not None and not wait_duration_in_open <= max_wait_in_open < math.inf:
            raise ValueError("max_wait_in_open must be >= wait_duration_in_open and finite, or None")
        if permitted_calls_in_half_open < 1:
            raise ValueError("permitted_calls_in_half_open must be >= 1")
        if max_wait_in_half_open is not None and not 0 < max_wait_in_half_open < math.inf:
            raise ValueError("max_wait_in_half_open must be > 0 and finite, or None")
        self._time_based = window_type == "time"
        self._window_size = int(window_size)
        # CircuitBreakerMetrics: a count window can never hold more than its size.
        self._min_calls = int(minimum_calls if self._time_based else min(minimum_calls, window_size))
        self._fr = float(failure_rate_threshold)
        self._sr = float(slow_call_rate_threshold)
        self._slow = float(slow_call_duration)
        self._wait = float(wait_duration_in_open)
        self._multiplier = float(wait_multiplier)
        self._max_wait = max_wait_in_open
        self._permits = int(permitted_calls_in_half_open)
        # forHalfOpen: a count window of the permitted size, hence min(minimum, permitted).
        self._min_probes = min(int(minimum_calls), self._permits)
        self._max_half_open = max_wait_in_half_open
        self._now = clock.now
        self._listener = on_transition
        self._calls = 0
        self._failures = 0
        self._slow_calls = 0
        self._rejected = 0
        self._transitions = 0
        self._state = _CLOSED
        self._epoch = 0  # bumped on every state entry; a ticket only counts in its own epoch
        # The epoch whose calls go straight to the count ring: closed, count window; else -1.
        self._ring_epoch = -1 if self._time_based else 0
        self._attempts = 0
        self._wait_now = self._wait
        self._open_until = 0.0
        self._half_open_since = 0.0
        self._permits_left = 0
        self._h_calls = self._h_fail = self._h_slow = 0
        self._probes_opened = False
        # The sliding window's totals, and its storage: a ring of outcome bits (count) or
        # per-second counts with the second they belong to (time).
        self._b_calls = self._b_fail = self._b_slow = 0
        self._head = 0  # the count ring's next slot
        self._ring = bytearray(0 if self._time_based else self._window_size)
        self._t_head = _NEVER  # the time window's newest second, its slot, and when it ends
        self._t_slot = 0
        self._t_roll_at = -math.inf
        seconds = self._window_size if self._time_based else 0
        self._t_calls = [0] * seconds
        self._t_fail = [0] * seconds
        self._t_slow = [0] * seconds

    # ---------------------------------------------------------------------------------- decisions

    @property
    def state(self) -> BreakerState:
        """The current state (an elapsed open wait shows only at the next ``allow()``)."""
        return _NAMES[self._state]

    def allow(self) -> BreakerTicket | None:
        """A ticket if the call may go ahead, ``None`` if it is rejected."""
        if not self._state:  # closed
            # Built without __init__: ~35 ns less per call on CPython 3.11 (bench/breaker.py).
            ticket = _new(BreakerTicket)
            ticket._owner = self
            ticket._start = self._now()
            ticket._epoch = self._epoch
            return ticket
        return self._allow_other()

    def _allow_other(self) -> BreakerTicket | None:
        state = self._state
        if state == _DISABLED:
            return _NOOP_TICKET
        now = self._now()
        if state == _OPEN:
            if now < self._open_until:
                self._rejected += 1
                return None
            self._enter(_HALF_OPEN, now)
            state = _HALF_OPEN
        if state == _HALF_OPEN:
            limit = self._max_half_open
            if limit is not None and now - self._half_open_since >= limit:
                # resilience4j's transitionToStateAfterWaitDuration default: OPEN.
                self._enter(_OPEN, now)
            elif self._permits_left > 0:
                self._permits_left -= 1
                return BreakerTicket(self, now, self._epoch)
        self._rejected += 1
        return None

    def retry_after(self) -> float:
        """Seconds until a call could be allowed: 0.0 when closed, disabled or with a probe
        permit free; the rest of the wait when open; ``wait_duration_in_open`` when half-open
        with every probe in flight (their outcomes decide; if they fail, at least that long);
        ``math.inf`` when forced open (an operator must act; ``Retry-After`` is then omitted).
        """
        state = self._state
        if state == _OPEN:
            return max(0.0, self._open_until - self._now())
        if state == _HALF_OPEN:
            return 0.0 if self._permits_left > 0 else self._wait
        if state == _FORCED_OPEN:
            return math.inf
        return 0.0

    # ----------------------------------------------------------------------------------- outcomes
    # Called by BreakerTicket (the _Owner protocol), not by users.

    def _on_success(self, start: float, epoch: int, duration: float | None) -> None:
        now = self._now()
        if duration is None:
            duration = now - start
        self._calls += 1
        if duration > self._slow:  # resilience4j: strictly longer is slow
            self._slow_calls += 1
            outcome = _CALL | _SLOW
        else:
            outcome = _CALL
        if epoch != self._ring_epoch:  # not the closed count window's call
            if epoch == self._epoch:
                self._record(outcome, now)
            return
        # The closed count window inline, one check away: the hot path (bench/breaker.py).
        ring = self._ring
        head = self._head
        old = ring[head]
        ring[head] = outcome
        head += 1
        self._head = 0 if head == self._window_size else head
        # The same outcome replacing itself changes no count, so no rate (the common case).
        if old != outcome:
            self._recount(old, outcome, now)

    def _on_failure(self, start: float, epoch: int, duration: float | None) -> None:
        now = self._now()
        if duration is None:
            duration = now - start
        self._calls += 1
        self._failures += 1
        if duration > self._slow:
            self._slow_calls += 1
            outcome = _CALL | _FAILED | _SLOW
        else:
            outcome = _CALL | _FAILED
        if epoch == self._epoch:
            self._record(outcome, now)

    def _on_ignore(self, epoch: int) -> None:
        # resilience4j's releasePermission: only half-open holds permits.
        if epoch == self._epoch and self._state == _HALF_OPEN:
            self._permits_left += 1

    def _record(self, outcome: int, now: float) -> None:
        """Count an outcome of the current epoch (closed or half-open) and act on the thresholds."""
        if self._state == _HALF_OPEN:
            self._record_probe(outcome, now)
        elif self._time_based:
            self._record_time(outcome, now)
        else:
            ring = self._ring
            head = self._head
            old = ring[head]
            ring[head] = outcome
            head += 1
            self._head = 0 if head == self._window_size else head
            if old != outcome:
                self._recount(old, outcome, now)

    def _recount(self, old: int, new: int, now: float) -> None:
        """A count-window slot went from ``old`` (0: empty) to ``new``: adjust, then check."""
        if old:
            self._b_calls -= 1
            if old & _FAILED:
                self._b_fail -= 1
            if old & _SLOW:
                self._b_slow -= 1
        self._b_calls += 1
        if new & _FAILED:
            self._b_fail += 1
        if new & _SLOW:
            self._b_slow += 1
        self._check(now)

    def _check(self, now: float) -> None:
        calls = self._b_calls
        if calls >= self._min_calls and (
            self._b_fail * 100 >= self._fr * calls or self._b_slow * 100 >= self._sr * calls
        ):
            self._enter(_OPEN, now)

    def _record_probe(self, outcome: int, now: float) -> None:
        # forHalfOpen: the probes fill their own count window; decide once it holds the minimum.
        self._h_calls += 1
        if outcome & _FAILED:
            self._h_fail += 1
        if outcome & _SLOW:
            self._h_slow += 1
        calls = self._h_calls
        if calls >= self._min_probes:
            over = self._h_fail * 100 >= self._fr * calls or self._h_slow * 100 >= self._sr * calls
            self._enter(_OPEN if over else _CLOSED, now)

    def _record_time(self, outcome: int, now: float) -> None:
        if now >= self._t_roll_at:
            self._advance(now)
        slot = self._t_slot
        self._t_calls[slot] += 1
        self._b_calls += 1
        if outcome & _FAILED:
            self._t_fail[slot] += 1
            self._b_fail += 1
        if outcome & _SLOW:
            self._t_slow[slot] += 1
            self._b_slow += 1
        # Expiry may have raised the rates since the last check: check on every outcome.
        calls = self._b_calls
        if calls >= self._min_calls and (
            self._b_fail * 100 >= self._fr * calls or self._b_slow * 100 >= self._sr * calls
        ):
            self._enter(_OPEN, now)

    def _advance(self, now: float) -> None:
        """Move the time window to end at the second of ``now``: the buckets of the seconds it
        passes over (at most all of them) leave the totals and start empty."""
        second = math.floor(now)
        size = self._window_size
        calls, fail, slow = self._t_calls, self._t_fail, self._t_slow
        # SlidingTimeWindowMetrics.moveWindowToCurrentEpochSecond: one bucket per second, the
        # current one included.
        for s in range(max(self._t_head + 1, second - size + 1), second + 1):
            slot = s % size
            self._b_calls -= calls[slot]
            self._b_fail -= fail[slot]
            self._b_slow -= slow[slot]
            calls[slot] = fail[slot] = slow[slot] = 0
        self._t_head = second
        self._t_slot = second % size
        self._t_roll_at = second + 1.0

    # ---------------------------------------------------------------------------- state changes

    def _enter(self, state: int, now: float) -> None:
        old = self._state
        self._state = state
        self._epoch += 1
        self._ring_epoch = self._epoch if state == _CLOSED and not self._time_based else -1
        if state in (_CLOSED, _DISABLED):
            self._attempts = 0
            self._clear_window()
        elif state == _OPEN:
            # Statistics keep showing the window that opened it (resilience4j hands the
            # closed or half-open metrics over to OpenState).
            self._probes_opened = old == _HALF_OPEN
            self._attempts += 1
            # IntervalFunction.ofExponentialBackoff: initial * multiplier ** (attempt - 1), capped.
            wait = self._wait if self._attempts == 1 else self._wait_now * self._multiplier
            if self._max_wait is not None:
                wait = min(wait, self._max_wait)
            self._wait_now = wait
            self._open_until = now + wait
        elif state == _HALF_OPEN:
            self._half_open_since = now
            self._permits_left = self._permits
            self._h_calls = self._h_fail = self._h_slow = 0
        else:  # forced open: resilience4j counts it as an attempt, with empty metrics
            self._attempts += 1
            self._clear_window()
        if old != state:
            self._transitions += 1
            if self._listener is not None:
                self._listener(_NAMES[old], _NAMES[state])

    def _clear_window(self) -> None:
        self._b_calls = self._b_fail = self._b_slow = 0
        self._head = 0
        self._ring = bytearray(len(self._ring))
        self._t_head = _NEVER
        self._t_roll_at = -math.inf
        self._t_calls = [0] * len(self._t_calls)
        self._t_fail = [0] * len(self._t_fail)
        self._t_slow = [0] * len(self._t_slow)

    def force_open(self) -> None:
        """Reject every call until :meth:`reset`, :meth:`close` or :meth:`disable` (operator action)."""
        self._enter(_FORCED_OPEN, self._now())

    def disable(self) -> None:
        """Allow every call and count nothing until :meth:`reset` or :meth:`force_open`."""
        self._enter(_DISABLED, self._now())

    def reset(self) -> None:
        """Back to closed with an empty window and the open wait back at its initial value.

        resilience4j's ``reset()``/``transitionToClosedState()``: allowed from any state; from
        closed it only empties the window (no transition is reported). The lifetime counters
        of :meth:`statistics` are kept (they are monotonic, for metrics).
        """
        self._enter(_CLOSED, self._now())

    def close(self) -> None:
        """Same as :meth:`reset`."""
        self.reset()

    # ----------------------------------------------------------------------------- observation

    def statistics(self) -> CircuitBreakerStatistics:
        state = self._state
        if state == _HALF_OPEN or (state == _OPEN and self._probes_opened):
            calls, fail, slow, minimum = self._h_calls, self._h_fail, self._h_slow, self._min_probes
        else:
            if self._time_based:
                now = self._now()
                if now >= self._t_roll_at:
                    self._advance(now)
            calls, fail, slow, minimum = self._b_calls, self._b_fail, self._b_slow, self._min_calls
        below = calls == 0 or calls < minimum
        return CircuitBreakerStatistics(
            state=_NAMES[state],
            calls=self._calls,
            failures=self._failures,
            rejected=self._rejected,
            transitions=self._transitions,
            slow_calls=self._slow_calls,
            buffered_calls=calls,
            buffered_failures=fail,
            buffered_slow_calls=slow,
            failure_rate=None if below else fail * 100 / calls,
            slow_call_rate=None if below else slow * 100 / calls,
            attempts=self._attempts,
            half_open_permits=self._permits_left if state == _HALF_OPEN else 0,
            retry_after=self.retry_after(),
        )

    def __repr__(self) -> str:
        window = f"{self._window_size} {'seconds' if self._time_based else 'calls'}"
        return (
            f"CircuitBreaker(state={_NAMES[self._state]!r}, window={window!r}, "
            f"failure_rate_threshold={self._fr!r})"
        )
