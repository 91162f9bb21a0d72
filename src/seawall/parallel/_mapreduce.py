"""Map-reduce over a stream of items: concurrent mappers, one reducer, cancel on the first error.

Modelled on go-zero's ``core/mr/mapreduce.go`` (``MapReduce``): a generator feeds items to a
bounded pool of mappers, whose outputs flow through a buffer of ``workers`` values to a single
reducer that produces the result; any error cancels the whole operation.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Final, Generic, TypeVar, cast, final

from seawall.parallel._group import Group, check_limit, check_min_remaining, too_late
from seawall.parallel._map import DEFAULT_LIMIT

__all__ = ["map_reduce"]

T = TypeVar("T")
U = TypeVar("U")
R = TypeVar("R")

_END: Final = object()


@final
class _SyncSource(Generic[T]):
    """A plain iterator read as an async one."""

    __slots__ = ("_it",)

    def __init__(self, it: Iterator[T]) -> None:
        self._it = it

    def __aiter__(self) -> _SyncSource[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return next(self._it)
        except StopIteration:
            raise StopAsyncIteration from None


@final
class _Pipe(AsyncIterator[U]):
    """The reducer's view of the mappers' outputs, in the order they finish (go-zero's ``pipe``)."""

    __slots__ = ("_ended", "_queue")

    def __init__(self, queue: asyncio.Queue[object]) -> None:
        self._queue = queue
        self._ended = False

    async def __anext__(self) -> U:
        if self._ended:
            raise StopAsyncIteration
        value = await self._queue.get()
        if value is _END:
            self._ended = True
            raise StopAsyncIteration
        return cast(U, value)


async def map_reduce(
    generate: Iterable[T] | AsyncIterable[T],
    mapper: Callable[[T], Awaitable[U]],
    reducer: Callable[[AsyncIterator[U]], Awaitable[R]],
    *,
    workers: int = DEFAULT_LIMIT,
    min_remaining: float = 0.0,
) -> R:
    """Map items concurrently and reduce the mapped values to one result.

    Up to ``workers`` mappers run at once, each taking the next item from ``generate`` when it
    is free; each mapped value goes into a buffer of ``workers`` values that the reducer reads as
    an async iterator, in the order the mappers finish. Mappers wait when the buffer is full, so a
    slow reducer slows the mappers instead of piling up values. The reducer's return value is the
    result. The first error (from the source, a mapper or the reducer) cancels everything else
    and is raised. If the reducer returns before reading everything, the mappers still running
    are cancelled and no more items are taken.

    Follows go-zero ``mr.MapReduce`` (16 workers by default, a collector buffered to ``workers``,
    cancel on the first error), with its writer semantics simplified for asyncio: a mapper returns
    its one value instead of calling ``writer.Write`` (return a value the reducer skips, e.g.
    ``None``, to filter an item out); ``cancel(err)`` is raising ``err``; the reducer returns its
    result instead of writing it, so go-zero's ``ErrReduceNoOutput`` cannot happen.

    Deadline-aware like :func:`gather`: once the current deadline is spent or under
    ``min_remaining``, no more items are mapped and :class:`~seawall.errors.DeadlineExceeded` is
    raised.

    Args:
        generate: the items, a plain or async iterable (an async generator streams them); it is
            closed when the operation ends.
        mapper: the async function applied to each item.
        reducer: receives the mapped values and returns the result.
        workers: the most mappers running at once (>= 1).
        min_remaining: seconds of deadline needed to start mapping another item (>= 0).

    Example::

        async def total(values: AsyncIterator[int]) -> int:
            return sum([v async for v in values])

        stock = await parallel.map_reduce(warehouse_ids, inventory.count, total, workers=8)
    """
    check_limit("workers", workers)
    check_min_remaining(min_remaining)
    source: AsyncIterator[T] = (
        aiter(generate) if isinstance(generate, AsyncIterable) else _SyncSource(iter(generate))
    )
    take = asyncio.Lock()  # an async generator cannot be advanced by two tasks at once
    pipe: asyncio.Queue[object] = asyncio.Queue(maxsize=workers)
    group = Group()
    result: list[R] = []
    running = workers

    async def map_items() -> None:
        nonlocal running
        while True:
            async with take:
                try:
                    item = await anext(source)
                except StopAsyncIteration:
                    break
            late = too_late(min_remaining)
            if late is not None:
                raise late
            await pipe.put(await mapper(item))
        running -= 1
        if running == 0:
            await pipe.put(_END)

    async def reduce() -> None:
        result.append(await reducer(_Pipe(pipe)))
        group.stop()  # mappers still running are no longer wanted

    try:
        for _ in range(workers):
            group.spawn(map_items())
        group.spawn(reduce())
        await group.wait()
    finally:
        # Like go-zero draining its source channel: never leave a generator suspended.
        if inspect.isasyncgen(source):
            await source.aclose()
        elif inspect.isgenerator(generate):
            generate.close()
    return result[0]
