"""The shedder interface, the ticket an admitted request carries, and the statistics snapshot.

The split follows go-zero's ``core/load`` package: ``adaptiveshedder.go`` defines the ``Shedder``
interface and its ``Promise`` (``Pass``/``Fail``), ``nopshedder.go`` the no-op twin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, final, runtime_checkable

__all__ = ["ShedTicket", "Shedder", "ShedderStatistics"]


class _Owner(Protocol):
    """What a ticket reports to: the shedder that issued it."""

    def _accepted(self, start: float) -> None: ...

    def _now(self) -> float: ...

    def _rejected(self) -> None: ...


@final
class ShedTicket:
    """Proof that a request was admitted; report its outcome exactly once.

    Call :meth:`accept` when the request completed (its response time then feeds the shedder's
    capacity estimate), or :meth:`reject` when it failed in a way that says nothing about capacity
    (e.g. it was cancelled). Either one ends the request's in-flight accounting; later calls are
    ignored, so a ``finally: ticket.reject()`` after an ``accept()`` is harmless.

    This is go-zero's ``Promise`` (``Pass``/``Fail``); tickets are created by shedders, not users.
    """

    __slots__ = ("_owner", "_start")

    def __init__(self, owner: _Owner | None, start: float) -> None:
        self._owner = owner
        self._start = start

    def begin(self) -> None:
        """The admitted work starts now: measure the response time from here, not from admission.

        A server that queues admitted requests before running them (an asyncio loop does) calls
        this so that queueing does not inflate the shedder's ``min_rt`` estimate.
        """
        owner = self._owner
        if owner is not None:
            self._start = owner._now()

    def accept(self) -> None:
        """The request completed: count it as passed and record its response time."""
        owner = self._owner
        if owner is not None:
            self._owner = None
            owner._accepted(self._start)

    def reject(self) -> None:
        """The request ended without a meaningful response time; only leave the in-flight count."""
        owner = self._owner
        if owner is not None:
            self._owner = None
            owner._rejected()

    @property
    def done(self) -> bool:
        """Whether :meth:`accept` or :meth:`reject` was already called."""
        return self._owner is None

    def __repr__(self) -> str:
        return f"ShedTicket(start={self._start!r}, done={self.done!r})"


@dataclass(frozen=True, slots=True)
class ShedderStatistics:
    """A snapshot of a shedder's state, for metrics, logs and the dashboard.

    Attributes:
        in_flight: requests admitted and not yet accepted or rejected.
        max_pass: the most requests accepted in one bucket over the window (at least 1).
        min_rt: the lowest per-bucket average response time over the window, in seconds
            (1.0 when the window holds no accepted request).
        max_flight: ``max_pass * buckets_per_second * min_rt``, at least 1: the in-flight count
            above which an overloaded shedder drops.
        cpu: the CPU signal in permille (0..1000).
        dropped: ``allow()`` calls answered with ``None`` since creation.
        passed: ``allow()`` calls answered with a ticket since creation.
        overloaded: whether normal-priority requests are currently subject to shedding (the CPU
            is over its threshold, or a drop happened within the cool-off period).
    """

    in_flight: int
    max_pass: int
    min_rt: float
    max_flight: float
    cpu: int
    dropped: int
    passed: int
    overloaded: bool


@runtime_checkable
class Shedder(Protocol):
    """Decides at once whether a request may run, to keep the process out of overload.

    :class:`AdaptiveShedder` and :class:`NoopShedder` satisfy it. Example::

        ticket = shedder.allow()
        if ticket is None:
            raise Overloaded(check="shedding")
        try:
            response = await handler(request)
        except BaseException:
            ticket.reject()
            raise
        ticket.accept()
    """

    def hot(self, priority: bool = False) -> bool:
        """Whether requests are subject to shedding now (CPU over threshold, or a recent drop)."""
        ...

    def allow(self, priority: bool = False) -> ShedTicket | None:
        """A ticket if the request may run, ``None`` if it must be dropped.

        ``priority`` requests are dropped only under heavier load.
        """
        ...

    def statistics(self) -> ShedderStatistics:
        """A frozen snapshot of the shedder's state."""
        ...
