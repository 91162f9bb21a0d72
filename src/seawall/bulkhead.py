"""Bulkhead: bounded concurrency with a bounded, time-limited wait queue.

Unlike a plain concurrency limit (reject at once), a bulkhead lets up to ``max_queue`` callers
wait up to ``max_wait`` seconds for a slot, first come first served (resilience4j
``SemaphoreBulkhead`` with ``maxWaitDuration``). It isolates one dependency or route so that it
cannot take every worker with it. No I/O; waiting uses the injected clock.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import final

from seawall._clock import MONOTONIC, Clock

__all__ = ["Bulkhead", "BulkheadStatistics", "NoopBulkhead"]


@final
@dataclass(frozen=True, slots=True)
class BulkheadStatistics:
    """A snapshot of a :class:`Bulkhead`."""

    max_concurrent: int
    running: int
    queued: int
    admitted: int
    rejected: int
    timed_out: int


@final
class Bulkhead:
    """At most ``max_concurrent`` holders; up to ``max_queue`` more wait ``max_wait`` seconds.

    Example::

        bulkhead = Bulkhead(max_concurrent=10, max_queue=20, max_wait=0.1)
        if await bulkhead.acquire():
            try:
                ...
            finally:
                bulkhead.release()
    """

    __slots__ = (
        "_admitted",
        "_clock",
        "_rejected",
        "_running",
        "_timed_out",
        "_waiters",
        "max_concurrent",
        "max_queue",
        "max_wait",
    )

    def __init__(
        self, *, max_concurrent: int, max_queue: int = 0, max_wait: float = 0.0, clock: Clock = MONOTONIC
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        if max_queue < 0:
            raise ValueError("max_queue must be >= 0")
        if max_wait < 0:
            raise ValueError("max_wait must be >= 0")
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self.max_wait = max_wait
        self._clock = clock
        self._running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._admitted = 0
        self._rejected = 0
        self._timed_out = 0

    def try_acquire(self) -> bool:
        """Take a slot if one is free now (never waits, never jumps the queue)."""
        if self._running < self.max_concurrent and not self._waiters:
            self._running += 1
            self._admitted += 1
            return True
        return False

    async def acquire(self) -> bool:
        """Take a slot, waiting in the queue up to ``max_wait``; False when full or timed out."""
        if self.try_acquire():
            return True
        if len(self._waiters) >= self.max_queue or self.max_wait <= 0:
            self._rejected += 1
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        timer = asyncio.ensure_future(self._clock.sleep(self.max_wait))
        try:
            await asyncio.wait((fut, timer), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed to us just as we were cancelled: pass it on
            else:
                fut.cancel()
                self._waiters.remove(fut)
            raise
        finally:
            timer.cancel()
        if fut.done() and not fut.cancelled():
            self._admitted += 1
            return True  # release() handed its slot to us
        fut.cancel()
        self._waiters.remove(fut)
        self._timed_out += 1
        return False

    def release(self) -> None:
        """Give a slot back: to the oldest waiter if any, else to the pool."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes on; _running is unchanged
                return
        if self._running <= 0:
            raise RuntimeError("release() without a matching acquire()")
        self._running -= 1

    def statistics(self) -> BulkheadStatistics:
        return BulkheadStatistics(
            self.max_concurrent,
            self._running,
            len(self._waiters),
            self._admitted,
            self._rejected,
            self._timed_out,
        )


@final
class NoopBulkhead:
    """The no-op twin of :class:`Bulkhead`: every acquire succeeds at once, nothing is counted."""

    __slots__ = ()

    def try_acquire(self) -> bool:
        return True

    async def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None

    def statistics(self) -> BulkheadStatistics:
        return BulkheadStatistics(0, 0, 0, 0, 0, 0)
