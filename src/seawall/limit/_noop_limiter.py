"""No-op twins: limiters that always admit, for a limit that is switched off."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import final

__all__ = ["NoopKeyedLimiter", "NoopLimiter", "NoopLimiterStatistics"]


@dataclass(frozen=True, slots=True)
class NoopLimiterStatistics:
    """A snapshot of a :class:`NoopLimiter` or :class:`NoopKeyedLimiter`."""

    #: Calls admitted (all of them).
    admitted: int
    #: Always 0.
    rejected: int = 0


@final
class NoopLimiter:
    """A limiter that admits everything, with the methods of every local limiter.

    Use it where a limit is configured off, so the request path keeps one shape instead of
    branching on ``None`` (go-zero's ``nopshedder.go`` and ``nopbreaker.go`` play the same role).
    It stands in for :class:`TokenBucket`, :class:`LeakyBucket`, :class:`SlidingWindow`,
    :class:`WarmUp` and :class:`ConcurrencyLimit`.

    Example::

        limiter = TokenBucket(rate=rule.rate, burst=rule.burst) if rule else NoopLimiter()
    """

    __slots__ = ("_admitted",)

    def __init__(self) -> None:
        self._admitted = 0

    def try_acquire(self, n: int = 1) -> bool:
        """Always True."""
        self._admitted += 1
        return True

    def reserve(self, n: int = 1) -> float:
        """Always 0.0: go now."""
        self._admitted += 1
        return 0.0

    async def acquire(self, n: int = 1) -> bool:
        """Always True, without waiting."""
        self._admitted += 1
        return True

    def retry_after(self, n: int = 1) -> float:
        """Always 0.0."""
        return 0.0

    def release(self) -> None:
        """Does nothing."""

    def count(self) -> int:
        """Always 0: nothing is counted."""
        return 0

    @property
    def in_flight(self) -> int:
        """Always 0: nothing is tracked."""
        return 0

    def statistics(self) -> NoopLimiterStatistics:
        """How many calls were admitted."""
        return NoopLimiterStatistics(admitted=self._admitted)

    def __repr__(self) -> str:
        return "NoopLimiter()"


@final
class NoopKeyedLimiter:
    """A keyed limiter that admits everything: the twin of :class:`KeyedLimiter` and
    :class:`HotspotLimiter`.

    Example::

        per_client = KeyedLimiter(make_bucket) if rule else NoopKeyedLimiter()
    """

    __slots__ = ("_admitted", "_limiter")

    def __init__(self) -> None:
        self._admitted = 0
        self._limiter = NoopLimiter()

    def get(self, key: Hashable) -> NoopLimiter:
        """One shared :class:`NoopLimiter` for every key."""
        return self._limiter

    def try_acquire(self, key: Hashable, n: int = 1) -> bool:
        """Always True."""
        self._admitted += 1
        return True

    def retry_after(self, key: Hashable, n: int = 1) -> float:
        """Always 0.0."""
        return 0.0

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return False

    def statistics(self) -> NoopLimiterStatistics:
        """How many calls were admitted."""
        return NoopLimiterStatistics(admitted=self._admitted)

    def __repr__(self) -> str:
        return "NoopKeyedLimiter()"
