"""Bounded-concurrency ``gather`` and ``map`` with first-error cancellation and a deadline cut-off."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, Literal, TypeVar, cast, overload

from seawall.parallel._group import Group, cancelling, check_limit, check_min_remaining, too_late

__all__ = ["DEFAULT_LIMIT", "gather", "map"]

T = TypeVar("T")
R = TypeVar("R")

#: go-zero's ``mr`` default of 16 workers: :func:`map` runs at most this many calls at once.
DEFAULT_LIMIT: Final = 16

_UNSET: Final = object()


async def _run(
    n: int,
    start: Callable[[int], Awaitable[object]],
    *,
    limit: int | None,
    collect: bool,
    min_remaining: float,
) -> list[object]:
    """Await ``start(i)`` for every ``i < n``, at most ``limit`` at once; results by index.

    With ``collect`` an item's exception becomes its result; otherwise the first one cancels the
    rest and is raised. Items not yet started once the deadline is too near fail with
    ``DeadlineExceeded`` (collected, or raised).
    """
    results: list[object] = [_UNSET] * n
    indices = iter(range(n))  # shared by the workers: each index is taken once

    async def worker() -> None:
        for i in indices:
            late = too_late(min_remaining)
            if late is not None:
                if not collect:
                    raise late
                results[i] = late
                continue
            try:
                results[i] = await start(i)
            except Exception as exc:
                if not collect:
                    raise
                results[i] = exc
            except asyncio.CancelledError as exc:
                # The item cancelled itself (nobody cancelled this worker): collect it as
                # asyncio.gather(return_exceptions=True) does.
                if not collect or cancelling():
                    raise
                results[i] = exc

    group = Group()
    for _ in range(n if limit is None else min(limit, n)):
        group.spawn(worker())
    await group.wait()
    return results


def _discard(aw: Awaitable[object]) -> None:
    """Release an awaitable that will never be awaited (no "never awaited" warning, no orphan)."""
    if inspect.iscoroutine(aw):
        aw.close()
    elif isinstance(aw, asyncio.Future):
        aw.cancel()


async def gather(*aws: Awaitable[T], limit: int | None = None, min_remaining: float = 0.0) -> list[T]:
    """Await every awaitable, at most ``limit`` at once; results in argument order.

    The seed's "call in parallel": fan out calls to independent dependencies and fail fast. The
    first error cancels everything still running, releases what has not started, and is raised
    once all of it has stopped (:class:`asyncio.TaskGroup` semantics, but the first error is
    raised as itself, not in an ``ExceptionGroup``; errors raised after it, often caused by the
    cancellation, are dropped). A child that cancels itself counts as failing with
    ``CancelledError``, as in :func:`asyncio.gather`.

    Deadline-aware: before starting each awaitable, the current request's deadline
    (:func:`seawall.deadline.remaining`) is read; once it is spent, or under ``min_remaining``
    seconds, nothing more starts and ``gather`` raises :class:`~seawall.errors.DeadlineExceeded`
    (a route turns it into a 504).

    ``limit`` bounds how many are awaited at once; coroutines start only when their turn comes,
    but tasks and futures passed in are already running and only their awaiting is bounded.

    Args:
        aws: coroutines, tasks or futures.
        limit: the most awaited at once (>= 1), ``None`` for all at once.
        min_remaining: seconds of deadline needed to start another one (>= 0).

    Example::

        user, orders = await parallel.gather(users.get(uid), orders.list(uid))
    """
    started = [False] * len(aws)

    def start(i: int) -> Awaitable[object]:
        started[i] = True
        return aws[i]

    try:
        check_limit("limit", limit)
        check_min_remaining(min_remaining)
        results = await _run(len(aws), start, limit=limit, collect=False, min_remaining=min_remaining)
    finally:
        for aw, was_started in zip(aws, started, strict=True):
            if not was_started:
                _discard(aw)
    return cast("list[T]", results)


@overload
async def map(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    limit: int | None = ...,
    return_exceptions: Literal[False] = ...,
    min_remaining: float = ...,
) -> list[R]: ...


@overload
async def map(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    limit: int | None = ...,
    return_exceptions: Literal[True],
    min_remaining: float = ...,
) -> list[R | BaseException]: ...


async def map(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    limit: int | None = DEFAULT_LIMIT,
    return_exceptions: bool = False,
    min_remaining: float = 0.0,
) -> list[R] | list[R | BaseException]:
    """Await ``fn(item)`` for every item, at most ``limit`` at once; results in input order.

    ``fn`` is called only when an item's turn comes, so at most ``limit`` calls are ever in
    progress (go-zero ``mr`` runs 16 workers by default; so does this).

    By default the first error cancels the calls in progress, starts no more, and is raised, as
    in :func:`gather`. With ``return_exceptions=True`` every item runs and a failed item's slot
    holds its exception instead of a result (exactly as :func:`asyncio.gather` with
    ``return_exceptions=True``; test with ``isinstance(r, BaseException)``), so partial results
    survive a few failures.

    Deadline-aware like :func:`gather`: once the current deadline is spent or under
    ``min_remaining``, no more items start; they fail with
    :class:`~seawall.errors.DeadlineExceeded` (raised, or in their slots with
    ``return_exceptions=True``, while calls already running finish).

    Args:
        fn: the async function to apply.
        items: the inputs (consumed at once).
        limit: the most calls in progress (>= 1), ``None`` for no bound.
        return_exceptions: keep going after failures, returning each item's exception.
        min_remaining: seconds of deadline needed to start another item (>= 0).

    Example::

        prices = await parallel.map(pricing.quote, product_ids, limit=8)
    """
    check_limit("limit", limit)
    check_min_remaining(min_remaining)
    inputs = list(items)

    def start(i: int) -> Awaitable[R]:
        return fn(inputs[i])

    results = await _run(
        len(inputs), start, limit=limit, collect=return_exceptions, min_remaining=min_remaining
    )
    return cast("list[R]", results)
