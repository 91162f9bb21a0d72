"""Tasks that fail together, and the deadline check every parallel helper makes before starting work."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine
from typing import Any, final

from seawall import deadline
from seawall.errors import DeadlineExceeded

__all__ = ["Group", "cancelling", "check_limit", "check_min_remaining", "too_late"]


def check_limit(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{name} must be >= 1")


def check_min_remaining(value: float) -> None:
    if not 0.0 <= value < math.inf:
        raise ValueError("min_remaining must be >= 0 and finite")


def too_late(min_remaining: float) -> DeadlineExceeded | None:
    """The error for work not started because the current deadline is (nearly) spent, else None."""
    left = deadline.remaining()
    if left is None or (left > 0 and left >= min_remaining):
        return None
    return DeadlineExceeded(
        f"not started: {max(0.0, left) * 1000:.0f} ms left of the deadline", check="parallel"
    )


def cancelling() -> bool:
    """Whether someone asked to cancel the running task (as opposed to work raising CancelledError)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@final
class Group:
    """A set of tasks where the first failure cancels the others and is raised by :meth:`wait`.

    Like :class:`asyncio.TaskGroup`, except that :meth:`wait` raises the first error itself, not
    an ``ExceptionGroup``: later errors (often consequences of the first, or raised while being
    cancelled) are dropped. A task that ends cancelled without the group having cancelled it
    counts as failing with ``CancelledError``, as in :func:`asyncio.gather`. If the task awaiting
    :meth:`wait` is cancelled, every task is cancelled and awaited before the cancellation
    propagates. Tasks may be spawned while :meth:`wait` runs.
    """

    __slots__ = ("_error", "_stopping", "_tasks")

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._error: BaseException | None = None
        self._stopping = False

    def spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of the group (in a copy of the current context)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            if self._stopping:
                return
            error: BaseException | None = asyncio.CancelledError()
        else:
            error = task.exception()  # also marks it retrieved: no "never retrieved" warning
        if error is not None and not self._stopping:
            self._error = error
            self.stop()

    def stop(self) -> None:
        """Cancel every task but the caller's; their cancellations are not errors."""
        self._stopping = True
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    async def wait(self) -> None:
        """Wait until every task is done; raise the first error, if any."""
        try:
            while self._tasks:
                await asyncio.wait(list(self._tasks))
        except asyncio.CancelledError:
            self.stop()
            while self._tasks:
                await asyncio.wait(list(self._tasks))
            raise
        error = self._error
        if error is not None:
            self._error = None
            try:
                raise error
            finally:
                del error  # no frame -> traceback -> error cycle (as asyncio.TaskGroup does)
