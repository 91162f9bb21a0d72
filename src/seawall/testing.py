"""Test helpers shipped as public API: a controllable clock and pytest fixtures.

``MockClock`` follows trio's design: time only moves when a test calls :meth:`MockClock.jump`,
or, with ``autojump=True``, whenever every sleeper is waiting (so a test of a 30-second timeout
runs in microseconds). Nothing here may be imported by seawall's own runtime code.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Iterator
from typing import Final, final

__all__ = ["MockClock", "autojump_clock", "mock_clock"]


@final
class MockClock:
    """A clock whose time moves only when told to.

    Args:
        start: the initial value of :meth:`now`.
        autojump: when true, a :meth:`sleep` that would block instead advances time straight to
            the earliest pending wake-up once the event loop has nothing else to run.

    Example::

        clock = MockClock()
        bucket = TokenBucket(rate=10, burst=10, clock=clock)
        clock.jump(0.5)
    """

    __slots__ = ("_autojump", "_counter", "_jumpers", "_now", "_sleepers")

    def __init__(self, start: float = 0.0, *, autojump: bool = False) -> None:
        self._now = float(start)
        self._autojump = autojump
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()
        self._jumpers: set[asyncio.Task[None]] = set()

    def now(self) -> float:
        return self._now

    @property
    def autojump(self) -> bool:
        """Whether sleeping advances time automatically."""
        return self._autojump

    @autojump.setter
    def autojump(self, value: bool) -> None:
        self._autojump = value

    def jump(self, seconds: float) -> None:
        """Advance time by ``seconds`` (>= 0) and wake every sleeper whose deadline has come."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        self._now += seconds
        self._wake()

    def _wake(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._counter), fut))
        if self._autojump and not self._jumpers:
            task = loop.create_task(self._autojump_when_idle())
            self._jumpers.add(task)
            task.add_done_callback(self._jumpers.discard)
        await fut

    async def _autojump_when_idle(self) -> None:
        # One jumper at a time: it waits until nothing else can run (so woken sleepers can go back
        # to sleep, possibly earlier than the others), then advances to the earliest wake-up only.
        loop = asyncio.get_running_loop()
        while self._autojump:
            await _until_idle(loop)
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if not self._sleepers:
                return
            self._now = max(self._now, self._sleepers[0][0])
            self._wake()

    def __repr__(self) -> str:
        return f"MockClock(now={self._now!r}, autojump={self._autojump!r})"


#: Yields after which a loop without an inspectable ready queue (not CPython's) counts as idle.
_FALLBACK_YIELDS: Final = 64
#: Yields after which a loop that never goes idle (tasks that only ever yield) counts as idle.
_MAX_YIELDS: Final = 100_000


async def _until_idle(loop: asyncio.AbstractEventLoop) -> None:
    """Return once no other callback is ready to run on ``loop``.

    CPython's event loops keep runnable callbacks in ``loop._ready``: when this task resumes and
    that queue is empty, every other task is blocked (on a future, a clock sleep, I/O or a thread).
    Other loops fall back to a fixed number of yields. I/O and threads are not waited for: a test
    that mixes them with ``autojump`` may see time move while they work.
    """
    ready = getattr(loop, "_ready", None)
    for _ in range(_FALLBACK_YIELDS if ready is None else _MAX_YIELDS):
        await asyncio.sleep(0)
        if ready is not None and not ready:
            return


def _mock_clock() -> Iterator[MockClock]:
    """A :class:`MockClock` starting at 0 that moves only on :meth:`MockClock.jump`."""
    yield MockClock()


def _autojump_clock() -> Iterator[MockClock]:
    """A :class:`MockClock` that jumps to the next wake-up whenever all sleepers are waiting."""
    yield MockClock(autojump=True)


try:  # pytest is a test-time dependency only; the fixtures exist when it is installed.
    import pytest
except ImportError:  # pragma: no cover - exercised only without pytest
    mock_clock = _mock_clock
    autojump_clock = _autojump_clock
else:
    mock_clock = pytest.fixture(_mock_clock, name="mock_clock")
    autojump_clock = pytest.fixture(_autojump_clock, name="autojump_clock")
