"""The concurrency-limit algorithm interface, and the fixed limit.

The split follows Netflix concurrency-limits: ``Limit.java`` (``getLimit``/``onSample``) is the
algorithm, ``limiter/*Limiter.java`` the enforcement. Algorithms are pure: no clock (time arrives
with each sample), no I/O, no knowledge of who enforces them.
"""

from __future__ import annotations

from typing import Protocol, final, runtime_checkable

__all__ = ["FixedLimit", "Limit"]


@runtime_checkable
class Limit(Protocol):
    """A concurrency-limit algorithm: the limit it currently allows, fed one sample per request.

    :class:`Gradient2Limit`, :class:`VegasLimit` and :class:`FixedLimit` satisfy it. A limiter
    reads :attr:`limit` on every admission and calls :meth:`on_sample` when an admitted
    request ends in a way that says something about capacity (success, or a drop).

    Anything that exposes the two members can be partitioned by :class:`PartitionedLimiter`,
    e.g. an adapter over a shedder's ``max_flight`` (Netflix's ``Limit.java`` contract).
    """

    @property
    def limit(self) -> int:
        """The most requests allowed in flight now (>= 1)."""
        ...

    @property
    def rtt_noload(self) -> float:
        """The algorithm's no-load round-trip estimate in seconds (0.0 if it keeps none)."""
        ...

    def on_sample(self, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        """Record one request: admitted at ``start`` (seconds, the limiter's clock), ended
        ``rtt`` seconds later, with ``inflight`` requests in flight at its admission (itself
        included); ``dropped`` when it timed out or was shed (a loss signal: back off)."""
        ...


@final
class FixedLimit:
    """A :class:`Limit` that never moves (Netflix ``FixedLimit``).

    Use it to partition a configured capacity, or in tests of a limiter.

    Example::

        limiter = PartitionedLimiter(limit=FixedLimit(100), partitions={"live": 0.9, "batch": 0.1})
    """

    __slots__ = ("_limit",)

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._limit = int(limit)

    @property
    def limit(self) -> int:
        """The configured limit."""
        return self._limit

    @property
    def rtt_noload(self) -> float:
        """Always 0.0: a fixed limit keeps no latency estimate."""
        return 0.0

    def on_sample(self, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        """Ignored."""

    def __repr__(self) -> str:
        return f"FixedLimit({self._limit!r})"
