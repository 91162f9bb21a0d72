"""The breaker interface, the ticket an allowed call carries, and the common statistics snapshot.

The split follows go-zero's ``core/breaker`` package: ``breaker.go`` defines the interface and its
``Promise`` (``Accept``/``Reject``), ``googlebreaker.go`` and ``nopbreaker.go`` the implementations.
resilience4j's ``CircuitBreaker`` adds what the ticket's :meth:`BreakerTicket.ignore` is for
(``releasePermission``: an outcome that says nothing about the dependency's health).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, final, runtime_checkable

__all__ = ["Breaker", "BreakerState", "BreakerStatistics", "BreakerTicket", "TransitionListener"]

#: The states a breaker reports. The adaptive breaker has no state machine: it reports ``"open"``
#: while it drops calls (its drop probability is above zero) and ``"closed"`` otherwise.
BreakerState: TypeAlias = Literal["closed", "open", "half_open", "forced_open", "disabled"]

#: Called as ``listener(old_state, new_state)`` on every state change, synchronously, from inside
#: the call that caused it (``allow()``, an outcome, an operator method). It must be cheap and
#: must not raise: an exception propagates to that caller.
TransitionListener: TypeAlias = Callable[[BreakerState, BreakerState], None]


class _Owner(Protocol):
    """What a ticket reports to: the breaker that issued it."""

    def _on_success(self, start: float, epoch: int, duration: float | None) -> None: ...

    def _on_failure(self, start: float, epoch: int, duration: float | None) -> None: ...

    def _on_ignore(self, epoch: int) -> None: ...


@final
class BreakerTicket:
    """Proof that a call was allowed; report its outcome exactly once.

    Call :meth:`success` or :meth:`failure` when the call finished, or :meth:`ignore` when its
    outcome says nothing about the dependency (a 4xx answer, a cancellation by the caller). The
    first call wins; later ones are ignored, so ``finally: ticket.ignore()`` after a
    ``success()`` is harmless. The call's duration is measured on the breaker's clock from
    ``allow()`` to the outcome (the circuit breaker's slow-call rate uses it); pass
    ``duration=`` to report a duration measured elsewhere.

    This is go-zero's ``Promise`` (``Accept``/``Reject``) plus resilience4j's
    ``releasePermission``; tickets are created by breakers, not users.
    """

    # The breakers' hot paths build tickets with object.__new__ and set these three slots
    # directly (cheaper than __init__); keep them in step with __init__.
    __slots__ = ("_epoch", "_owner", "_start")

    def __init__(self, owner: _Owner | None, start: float, epoch: int = 0) -> None:
        self._owner = owner
        self._start = start
        self._epoch = epoch

    def success(self, *, duration: float | None = None) -> None:
        """The call succeeded (took ``duration`` seconds, measured if not given)."""
        owner = self._owner
        if owner is not None:
            self._owner = None
            owner._on_success(self._start, self._epoch, duration)

    def failure(self, *, duration: float | None = None) -> None:
        """The call failed in a way that counts against the dependency (5xx, timeout, refused)."""
        owner = self._owner
        if owner is not None:
            self._owner = None
            owner._on_failure(self._start, self._epoch, duration)

    def ignore(self) -> None:
        """The outcome does not count; a half-open breaker gets the probe permit back."""
        owner = self._owner
        if owner is not None:
            self._owner = None
            owner._on_ignore(self._epoch)

    @property
    def done(self) -> bool:
        """Whether an outcome was already reported."""
        return self._owner is None

    def __repr__(self) -> str:
        return f"BreakerTicket(start={self._start!r}, done={self.done!r})"


@dataclass(frozen=True, slots=True)
class BreakerStatistics:
    """The fields every breaker's snapshot has; each breaker extends it with its own.

    Attributes:
        state: the state at the moment of the snapshot.
        calls: outcomes counted (successes and failures) since creation; ignored ones are not.
        failures: outcomes counted as failures since creation.
        rejected: ``allow()`` calls answered with ``None`` since creation.
        transitions: state changes since creation.
    """

    state: BreakerState
    calls: int
    failures: int
    rejected: int
    transitions: int


@runtime_checkable
class Breaker(Protocol):
    """Decides at once whether a call to a dependency may go ahead, from the outcomes of earlier
    calls, so that a failing dependency is given room to recover instead of a pile-up.

    :class:`AdaptiveBreaker`, :class:`CircuitBreaker` and :class:`NoopBreaker` satisfy it.
    Deciding what counts as a failure (5xx, a timeout) is the caller's job. Example::

        ticket = breaker.allow()
        if ticket is None:
            raise CircuitOpen(retry_after=breaker.retry_after())
        try:
            response = await send(request)
        except BaseException:
            ticket.failure()
            raise
        if response.status_code >= 500:
            ticket.failure()
        elif response.status_code >= 400:
            ticket.ignore()
        else:
            ticket.success()
    """

    @property
    def state(self) -> BreakerState:
        """The current state."""
        ...

    def allow(self) -> BreakerTicket | None:
        """A ticket if the call may go ahead, ``None`` if it is rejected. Cheap; never blocks."""
        ...

    def retry_after(self) -> float:
        """Seconds until a call could be allowed (0.0 if now), for a ``Retry-After`` header."""
        ...

    def statistics(self) -> BreakerStatistics:
        """A frozen snapshot of the breaker's counters and state."""
        ...
