"""Deadlines without a timer per call: a coarse timer wheel that cancels late tasks.

``asyncio.timeout()`` schedules and cancels one loop timer per request; measured here that cost
~3.6 µs a request (cancelled handles pile up in the loop's heap), more than the rest of the
default chain together (bench/hotpath.py). Instead each call adds itself to the bucket of its
deadline tick (a set: O(1) add and discard) and one ticker task, running only while some call is
watched, sleeps on the injected clock and cancels the tasks in buckets whose tick has passed.
A deadline fires at most ``resolution`` seconds late. Because the ticker sleeps on the clock, a
:class:`~seawall.testing.MockClock` drives it: tests jump time and deadlines fire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final, final

from seawall._clock import MONOTONIC, Clock

__all__ = ["TimeoutWheel", "Watch"]

DEFAULT_RESOLUTION: Final = 0.005

_running_loop = asyncio.get_running_loop
_new_watch = object.__new__
#: CPython 3.11's asyncio.current_task() is a Python function over this C-level mapping; reading
#: it inline spares a frame per watched call (callgrind). Where it is missing, current_task().
_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[object]] | None = getattr(
    asyncio.tasks, "_current_tasks", None
)


@final
class Watch:
    """One call under watch; ``expired`` is set just before its task is cancelled."""

    __slots__ = ("clock", "deadline", "expired", "home", "on_linger", "payload", "task", "timeout")

    def __init__(
        self,
        task: asyncio.Task[object] | None,
        deadline: float,
        timeout: float,
        clock: Clock,
        home: set[Watch] | None = None,
    ) -> None:
        self.task = task
        self.deadline = deadline
        self.timeout = timeout
        self.clock = clock
        #: The wheel's set this watch is in (``done`` removes it from there), None once fired.
        self.home = home
        self.expired = False
        #: Called once with this watch if the call is still running a full tick after it began.
        self.on_linger: Callable[[Watch], None] | None = None
        #: What the transport keeps with the watch for ``on_linger`` (the server: its request).
        self.payload: Any = None

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once passed)."""
        return self.deadline - self.clock.now()


@final
class TimeoutWheel:
    """Cancels watched tasks once their deadline passes.

    A new watch only joins the set of the current tick (most calls end within a tick or two, and
    leave it with one ``discard``); at each tick the watches of the tick before the last that
    are still running are told they linger and filed in the bucket of their deadline's tick, and
    those of the last tick whose deadline has come are cancelled.

    Args:
        clock: the time source deadlines are measured on, and the ticker sleeps on.
        resolution: tick length in seconds; deadlines fire up to this late.
    """

    __slots__ = ("_buckets", "_clock", "_last", "_older", "_resolution", "_ticker", "_young")

    def __init__(self, *, clock: Clock = MONOTONIC, resolution: float = DEFAULT_RESOLUTION) -> None:
        if not resolution > 0:
            raise ValueError("resolution must be > 0")
        self._clock = clock
        self._resolution = resolution
        self._buckets: dict[int, set[Watch]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._last = int(clock.now() // resolution)  # every tick up to this one has been processed
        # Watches begun since the last tick, and those begun in the tick before: at each tick the
        # older ones still running have lingered a full tick (done() removes finished ones).
        self._young: set[Watch] = set()
        self._older: set[Watch] = set()

    def watch(self, timeout: float) -> Watch:
        """Watch the current task; it is cancelled once ``timeout`` seconds have passed."""
        clock = self._clock
        now = clock.now()
        if self._ticker is None:
            if not self._watching():  # idle until now: nothing before the current tick is pending
                self._last = int(now // self._resolution)
            self._ticker = asyncio.get_running_loop().create_task(self._run())
        task = _tasks.get(_running_loop()) if _tasks is not None else asyncio.current_task()
        young = self._young
        # Watch(task, now + timeout, timeout, clock, young) without the __init__ frame: ~0.8k
        # instructions less per call (callgrind), on every request with a deadline.
        w = _new_watch(Watch)
        w.task = task
        w.deadline = now + timeout
        w.timeout = timeout
        w.clock = clock
        w.home = young
        w.expired = False
        w.on_linger = None
        w.payload = None
        young.add(w)
        return w

    def done(self, w: Watch) -> None:
        """Stop watching (the call finished in time, or expired and was handled)."""
        home = w.home
        if home is not None:
            home.discard(w)
            w.home = None
        w.payload = None

    def _watching(self) -> bool:
        return bool(self._young or self._older or self._buckets)

    async def _run(self) -> None:
        try:
            while self._watching():
                # Sleep to the next tick's boundary (not a fixed step from now): a ticker that
                # first runs after the clock moved on (a mock clock's jump) ticks at once. The due
                # tick is processed even if float rounding puts ``now // resolution`` just below
                # it, so the loop always moves forward.
                due = self._last + 1
                await self._clock.sleep(due * self._resolution - self._clock.now())
                self._advance(max(due, int(self._clock.now() // self._resolution)))
        finally:
            self._ticker = None

    def tick(self) -> int:
        """Cancel every watched task whose deadline has passed; returns how many were cancelled."""
        return self._advance(int(self._clock.now() // self._resolution))

    def _due_tick(self, w: Watch) -> int:
        """The first tick at or after ``w``'s deadline (never early), after the last processed."""
        return max(-int(-w.deadline // self._resolution), self._last + 1)

    def _advance(self, now_tick: int) -> int:
        cancelled = 0
        buckets = self._buckets
        # Begun two ticks ago and still running: they linger; file them by their deadline.
        lingering, recent = self._older, self._young
        self._older, self._young = recent, set()
        for w in list(lingering):  # (an on_linger may end a call: done() edits the set)
            if w.on_linger is not None and not w.expired:
                w.on_linger(w)
            if w.home is not lingering:  # done() from on_linger
                continue
            tick = self._due_tick(w)
            bucket = buckets.get(tick)
            if bucket is None:
                bucket = buckets[tick] = set()
            bucket.add(w)
            w.home = bucket
        # Begun during the last tick: a deadline shorter than two ticks may have come already.
        if recent:
            for w in [w for w in recent if self._due_tick(w) <= now_tick]:
                recent.discard(w)
                cancelled += _expire(w)
        if buckets:
            if now_tick - self._last <= len(buckets):
                due = range(self._last + 1, now_tick + 1)
            else:  # a long jump (an idle spell, a mock clock): visit the buckets, not every tick
                due = [t for t in buckets if t <= now_tick]  # type: ignore[assignment]
            for tick in due:
                for w in buckets.pop(tick, ()):
                    cancelled += _expire(w)
        self._last = max(self._last, now_tick)
        return cancelled

    @property
    def watched(self) -> int:
        """Calls being watched now."""
        return len(self._young) + len(self._older) + sum(len(b) for b in self._buckets.values())


def _expire(w: Watch) -> int:
    w.home = None
    w.expired = True
    if w.task is not None:
        w.task.cancel()
    return 1
