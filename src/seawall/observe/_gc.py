"""Garbage-collection monitoring: counts, collected objects and pause times per generation.

:class:`GcMonitor` hooks ``gc.callbacks`` and costs a few arithmetic operations per collection,
nothing per request. :class:`~seawall.observe.RuntimeCollector` exports its statistics.
"""

from __future__ import annotations

import contextlib
import gc
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, final

from seawall._clock import MONOTONIC, Clock
from seawall.observe._histogram import check_buckets

__all__ = ["GC_PAUSE_BUCKETS", "GcMonitor", "GcStatistics", "GenerationStatistics"]

#: Upper bounds (seconds) of the GC pause histogram: young collections take tens of
#: microseconds, full collections of a large heap tens to hundreds of milliseconds.
GC_PAUSE_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
#: Upper bounds (seconds) of the event-loop lag histogram: an idle loop wakes within a fraction
#: CPython's generations (0 young .. 2 old); callbacks for any other number are ignored.
_GENERATIONS: Final = 3
#: cgroup v1 writes a page-aligned LONG_MAX for "no memory limit"; anything this large is none.


@dataclass(frozen=True, slots=True)
class GenerationStatistics:
    """One GC generation's counters since :meth:`GcMonitor.install`.

    Attributes:
        generation: 0 (young) to 2 (old).
        collections: collections of this generation.
        collected: objects the collections freed.
        uncollectable: objects found unreachable but not freeable (``gc.garbage``).
        pause_sum: seconds spent in the collections.
        pause_counts: collections per pause bucket (not cumulative); the last entry is ``+Inf``.
    """

    generation: int
    collections: int
    collected: int
    uncollectable: int
    pause_sum: float
    pause_counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class GcStatistics:
    """A snapshot of :class:`GcMonitor`: the pause bucket bounds and one entry per generation."""

    buckets: tuple[float, ...]
    generations: tuple[GenerationStatistics, ...]


@final
class GcMonitor:
    """Counts and times garbage collections through ``gc.callbacks``.

    Each collection calls :meth:`callback` twice (``"start"``, ``"stop"``); the monitor counts the
    collection and the objects it collected, and files the pause (the time between the two calls)
    in a histogram per generation. The cost is a few arithmetic operations per collection and none
    per request. Collections run in whichever thread allocates, one at a time (CPython holds a
    "collecting" flag), so no lock is needed.

    Args:
        clock: the time source for pauses.
        buckets: upper bounds (seconds) of the pause histogram, strictly increasing.

    Example::

        monitor = GcMonitor()
        monitor.install()
        ...
        monitor.statistics().generations[2].pause_sum
        monitor.uninstall()
    """

    __slots__ = ("_buckets", "_collected", "_collections", "_now", "_pause_counts", "_pause_sum", "_started")

    def __init__(self, *, clock: Clock = MONOTONIC, buckets: Sequence[float] = GC_PAUSE_BUCKETS) -> None:
        self._buckets = check_buckets(buckets)
        self._now = clock.now
        self._started: float | None = None
        self._collections = [0] * _GENERATIONS
        self._collected = [[0, 0] for _ in range(_GENERATIONS)]  # collected, uncollectable
        self._pause_sum = [0.0] * _GENERATIONS
        self._pause_counts = [[0] * (len(self._buckets) + 1) for _ in range(_GENERATIONS)]

    @property
    def installed(self) -> bool:
        """Whether :meth:`callback` is in ``gc.callbacks``."""
        return self.callback in gc.callbacks

    def install(self) -> None:
        """Add :meth:`callback` to ``gc.callbacks`` (no-op if it is there)."""
        if not self.installed:
            gc.callbacks.append(self.callback)

    def uninstall(self) -> None:
        """Remove :meth:`callback` from ``gc.callbacks`` (no-op if it is not there)."""
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self.callback)
        self._started = None

    def callback(self, phase: str, info: Mapping[str, int]) -> None:
        """The ``gc.callbacks`` hook; tests call it directly with ``("start"|"stop", info)``."""
        if phase == "start":
            self._started = self._now()
            return
        started, self._started = self._started, None
        generation = info.get("generation", -1)
        if phase != "stop" or not 0 <= generation < _GENERATIONS:
            return
        self._collections[generation] += 1
        counts = self._collected[generation]
        counts[0] += info.get("collected", 0)
        counts[1] += info.get("uncollectable", 0)
        if started is not None:  # installed mid-collection: count it, but there is no pause
            pause = max(0.0, self._now() - started)
            self._pause_sum[generation] += pause
            self._pause_counts[generation][bisect_left(self._buckets, pause)] += 1

    def statistics(self) -> GcStatistics:
        """The counters so far."""
        return GcStatistics(
            self._buckets,
            tuple(
                GenerationStatistics(
                    g,
                    self._collections[g],
                    self._collected[g][0],
                    self._collected[g][1],
                    self._pause_sum[g],
                    tuple(self._pause_counts[g]),
                )
                for g in range(_GENERATIONS)
            ),
        )

    def __enter__(self) -> GcMonitor:
        self.install()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    def __repr__(self) -> str:
        return f"GcMonitor(collections={self._collections!r}, installed={self.installed!r})"
