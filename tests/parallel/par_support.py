"""Helpers for the parallel tests: a request deadline on a mock clock, and a concurrency probe."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from seawall import deadline
from seawall.governance._timeouts import Watch
from seawall.testing import MockClock


@contextlib.contextmanager
def deadline_in(seconds: float, clock: MockClock) -> Iterator[Watch]:
    """Run the block as a request whose deadline is ``seconds`` away on ``clock``.

    This is what the server does around a handler (it sets the watch of the request being
    handled); tasks created inside the block inherit it.
    """
    watch = Watch(None, clock.now() + seconds, seconds, clock)
    token = deadline._current.set(watch)
    try:
        yield watch
    finally:
        deadline._current.reset(token)


class Probe:
    """Counts calls in progress and remembers the peak, yielding to the loop while "working"."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.started: list[int] = []

    async def work(self, value: int, *, yields: int = 5) -> int:
        self.started.append(value)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            for _ in range(yields):
                await asyncio.sleep(0)
        finally:
            self.running -= 1
        return value * 10
