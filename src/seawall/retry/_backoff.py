"""Full-jitter exponential backoff, optionally capped by the time a deadline leaves."""

from __future__ import annotations

import math
import random
from typing import Final, final

__all__ = ["Backoff"]

# 2.0 ** 1024 overflows a float; any exponent past this is far above every sane cap anyway.
_MAX_EXPONENT: Final = 1000


def _check(base: float, cap: float, *, prefix: str = "") -> None:
    """Validate backoff parameters; ``prefix`` names them as :class:`RetryPolicy` fields."""
    if not 0.0 < base < math.inf:
        raise ValueError(f"{prefix}base must be > 0 and finite")
    if not 0.0 < cap < math.inf:
        raise ValueError(f"{prefix}cap must be > 0 and finite")
    if cap < base:
        raise ValueError(f"{prefix}cap must be >= {prefix}base")


@final
class Backoff:
    """How long to wait before a retry: ``uniform(0, min(cap, base * 2**attempt))``.

    This is "Full Jitter" from the AWS Architecture Blog post "Exponential Backoff And Jitter"
    (Marc Brooker, 2015): the exponential ceiling spreads retries out as failures repeat, and
    drawing the whole delay at random (rather than adding a little jitter to a fixed delay) keeps
    clients that failed together from coming back together. ``attempt`` counts the retries made
    before this one, so the first retry waits up to ``base``, the second up to ``2 * base``, and
    so on until ``cap``.

    Pass ``within=`` the seconds a deadline leaves (minus what the next attempt needs) to draw
    from ``[0, min(ceiling, within)]`` instead: the retry still gets jitter, never a sleep that
    outlives the request.

    Args:
        base: the ceiling of the first retry's delay, in seconds (> 0).
        cap: the largest ceiling, in seconds (>= base).
        rng: the source of randomness; pass a seeded ``random.Random`` for reproducible delays.

    Example::

        backoff = Backoff(base=0.05, cap=1.0, rng=random.Random(7))
        await clock.sleep(backoff.delay(0, within=deadline.remaining()))
    """

    __slots__ = ("_base", "_cap", "_rng")

    def __init__(self, *, base: float = 0.05, cap: float = 1.0, rng: random.Random | None = None) -> None:
        _check(base, cap)
        self._base = float(base)
        self._cap = float(cap)
        self._rng = rng if rng is not None else random.Random()

    @property
    def base(self) -> float:
        """The first retry's ceiling, in seconds."""
        return self._base

    @property
    def cap(self) -> float:
        """The largest ceiling, in seconds."""
        return self._cap

    def ceiling(self, attempt: int) -> float:
        """The largest delay :meth:`delay` can draw for ``attempt``: ``min(cap, base * 2**attempt)``."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        return min(self._cap, self._base * 2.0 ** min(attempt, _MAX_EXPONENT))

    def delay(self, attempt: int, *, within: float | None = None) -> float:
        """A random delay in ``[0, ceiling(attempt)]``, and no longer than ``within`` if given.

        Args:
            attempt: retries made before this one (0 for the first retry).
            within: seconds available for the wait; a negative value allows no wait at all.
        """
        high = self.ceiling(attempt)
        if within is not None and not within >= high:
            if not within > 0:  # none left, or NaN: no wait
                return 0.0
            high = within
        return self._rng.uniform(0.0, high)

    def __repr__(self) -> str:
        return f"Backoff(base={self._base!r}, cap={self._cap!r})"
