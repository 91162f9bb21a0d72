"""Concurrency limit: at most ``limit`` requests in flight."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

__all__ = ["ConcurrencyLimit", "ConcurrencyLimitStatistics"]


@dataclass(frozen=True, slots=True)
class ConcurrencyLimitStatistics:
    """A snapshot of a :class:`ConcurrencyLimit`."""

    #: Calls to ``try_acquire`` that were admitted.
    admitted: int
    #: Calls to ``try_acquire`` that were refused.
    rejected: int
    #: Requests admitted and not yet released.
    in_flight: int
    #: The most requests ever in flight at once.
    peak: int
    #: The most requests allowed in flight.
    limit: int


@final
class ConcurrencyLimit:
    """Admit a request only while fewer than ``limit`` are in flight; never wait.

    Use it to cap work a process takes on at once (a route that holds a database connection, a
    whole server's worth of handlers): unlike a rate, it adapts to how long requests take. Every
    successful :meth:`try_acquire` must be paired with exactly one :meth:`release`, normally in a
    ``finally``. It involves no time, so it takes no clock.

    Follows nginx ``limit_conn`` (``ngx_http_limit_conn_module.c``: count up on admission, refuse
    at the limit, count down in the cleanup handler) and go-zero's ``MaxConnsHandler``
    (``rest/handler/maxconnshandler.go``, built on ``syncx.Limit``'s ``TryBorrow``/``Return``).

    Args:
        limit: the most requests in flight at once (>= 1).

    Example::

        conns = ConcurrencyLimit(limit=100)
        if not conns.try_acquire():
            raise Overloaded()
        try:
            return await handler(request)
        finally:
            conns.release()
    """

    __slots__ = ("_admitted", "_in_flight", "_limit", "_peak", "_rejected")

    def __init__(self, *, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._limit = int(limit)
        self._in_flight = 0
        self._peak = 0
        self._admitted = 0
        self._rejected = 0

    @property
    def limit(self) -> int:
        """The most requests allowed in flight."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet released."""
        return self._in_flight

    def try_acquire(self) -> bool:
        """Take a slot if one is free; otherwise return False at once."""
        if self._in_flight < self._limit:
            self._in_flight += 1
            if self._in_flight > self._peak:
                self._peak = self._in_flight
            self._admitted += 1
            return True
        self._rejected += 1
        return False

    def release(self) -> None:
        """Give back a slot taken by a successful :meth:`try_acquire`."""
        if self._in_flight == 0:
            raise RuntimeError("release() without a matching successful try_acquire()")
        self._in_flight -= 1

    def statistics(self) -> ConcurrencyLimitStatistics:
        """A frozen snapshot."""
        return ConcurrencyLimitStatistics(
            admitted=self._admitted,
            rejected=self._rejected,
            in_flight=self._in_flight,
            peak=self._peak,
            limit=self._limit,
        )

    def __repr__(self) -> str:
        return f"ConcurrencyLimit(limit={self._limit!r}, in_flight={self._in_flight!r})"
