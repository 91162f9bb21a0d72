"""The no-op breaker: allows everything (go-zero's ``core/breaker/nopbreaker.go``)."""

from __future__ import annotations

from typing import Final, final

from seawall.breaker._base import BreakerState, BreakerStatistics, BreakerTicket

__all__ = ["NoopBreaker"]

# Stateless (its owner is None, so outcomes do nothing), hence shareable.
_TICKET: Final = BreakerTicket(None, 0.0)
_STATS: Final = BreakerStatistics(state="closed", calls=0, failures=0, rejected=0, transitions=0)


@final
class NoopBreaker:
    """A :class:`Breaker` that never rejects; use it where breaking is switched off.

    It counts nothing: its tickets do no accounting and its statistics are all zeros, state
    ``"closed"``. Example::

        breaker = NoopBreaker()
        ticket = breaker.allow()  # never None
        ticket.failure()  # does nothing
    """

    __slots__ = ()

    @property
    def state(self) -> BreakerState:
        """Always ``"closed"``."""
        return "closed"

    def allow(self) -> BreakerTicket | None:
        return _TICKET

    def retry_after(self) -> float:
        """Always 0.0."""
        return 0.0

    def statistics(self) -> BreakerStatistics:
        return _STATS

    def __repr__(self) -> str:
        return "NoopBreaker()"
