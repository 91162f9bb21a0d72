"""The no-op shedder: admits everything (go-zero's ``nopshedder.go``)."""

from __future__ import annotations

from typing import Final, final

from seawall.load._base import ShedderStatistics, ShedTicket

__all__ = ["NoopShedder"]

# Stateless (its callback is None, so accept/reject do nothing), hence shareable.
_TICKET: Final = ShedTicket(None, 0.0)
_STATS: Final = ShedderStatistics(
    in_flight=0, max_pass=0, min_rt=0.0, max_flight=0.0, cpu=0, dropped=0, passed=0, overloaded=False
)


@final
class NoopShedder:
    """A :class:`Shedder` that never drops; use it where shedding is switched off.

    Its tickets do no accounting, and its statistics are all zeros.
    """

    __slots__ = ()

    def hot(self, priority: bool = False) -> bool:
        """Never."""
        return False

    def allow(self, priority: bool = False) -> ShedTicket | None:
        return _TICKET

    def statistics(self) -> ShedderStatistics:
        return _STATS

    def __repr__(self) -> str:
        return "NoopShedder()"
