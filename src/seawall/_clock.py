"""Time, injected: the `Clock` protocol and the real monotonic clock.

Every time-based primitive in seawall takes ``clock=`` so that tests can drive time with
:class:`seawall.testing.MockClock` instead of sleeping. Nothing here reads wall-clock time;
this module must not grow any global "now" function (go-zero's ``timex.Now()`` is what we avoid).
"""

from __future__ import annotations

import asyncio
import time
from typing import Final, Protocol, final, runtime_checkable

__all__ = ["MONOTONIC", "Clock", "MonotonicClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of monotonic time in seconds, and a way to wait on it."""

    def now(self) -> float:
        """Seconds on a monotonic scale (only differences are meaningful)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``now()`` has advanced by at least ``seconds``."""
        ...


@final
class MonotonicClock:
    """The real clock: :func:`time.monotonic` and :func:`asyncio.sleep`."""

    __slots__ = ()

    # Bound once: primitives call ``clock.now()`` on the hot path.
    now = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "MonotonicClock()"


#: The process-wide real clock; primitives default to it.
MONOTONIC: Final[Clock] = MonotonicClock()
