"""The interface every local rate limiter satisfies, so that :class:`KeyedLimiter` and the server's
compiled check list can hold any of them (go-zero's ``limit`` package keeps the same split between
interface and algorithms)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["RateLimiter"]


@runtime_checkable
class RateLimiter(Protocol):
    """Something that answers "may ``n`` more units go now?" without waiting.

    :class:`TokenBucket`, :class:`LeakyBucket`, :class:`SlidingWindow`, :class:`WarmUp` and
    :class:`NoopLimiter` satisfy it.
    """

    def try_acquire(self, n: int = 1) -> bool:
        """Admit ``n`` units now (and account for them) or refuse at once."""
        ...

    def retry_after(self, n: int = 1) -> float:
        """Seconds until a retry of ``n`` units could be admitted; ``0.0`` if now, ``inf`` if never."""
        ...
