"""The registry of governance resources: every stateful primitive a service's checks use.

Limiters, shedders, bulkheads, breakers, the CPU probe and Redis clients are created through
:meth:`Registry.obtain` under a key that says what they are for (target, method, kind and
configuration). Compiling the same configuration again finds the same object, so its state
survives a rules change; a full recompile runs in a :meth:`Registry.transaction` that, on success,
evicts and closes every resource no chain uses any more, and on failure closes what it built and
changes nothing. :meth:`Registry.snapshot` lists every resource's ``statistics()`` for metrics and
the dashboard.

The registry owns its resources' lifecycle (start, close); nothing else starts or stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, final

__all__ = ["Registry", "ResourceInfo", "ResourceSnapshot"]

T = TypeVar("T")
Hook = Callable[[Any], Awaitable[None] | None]

logger = logging.getLogger("seawall.governance")


@final
@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """What a resource is, for metrics and the dashboard.

    Attributes:
        kind: the primitive (``token_bucket``, ``shedder``, ``bulkhead``, ``redis_limiter``...).
        target: the route template or dependency it serves; ``""`` for service-wide ones.
        method: the method it serves (``*`` for all, ``""`` for service-wide ones).
        check: the check that uses it (``rate_limit``, ``hotspot:path:id``...).
    """

    kind: str
    target: str = ""
    method: str = ""
    check: str = ""


@final
@dataclass(frozen=True, slots=True)
class ResourceSnapshot:
    """One resource's identity and its frozen ``statistics()``."""

    info: ResourceInfo
    statistics: Any


@final
class _Entry:
    __slots__ = ("close", "info", "obj", "start", "started")

    def __init__(self, obj: Any, info: ResourceInfo | None, start: Hook | None, close: Hook | None) -> None:
        self.obj = obj
        self.info = info
        self.start = start
        self.close = close
        self.started = False


@final
class _Transaction:
    __slots__ = ("evict", "staged", "touched")

    def __init__(self, evict: bool) -> None:
        self.evict = evict
        self.staged: dict[Hashable, _Entry] = {}
        self.touched: set[Hashable] = set()


@final
class Registry:
    """Owns a service's governance resources; see the module docstring.

    Example::

        bucket = registry.obtain(
            ("/items", "GET", "rate_limit", repr(config)),
            lambda: TokenBucket(rate=100, burst=100, clock=clock),
            info=ResourceInfo("token_bucket", "/items", "GET", "rate_limit"),
        )
    """

    __slots__ = ("_entries", "_running", "_tasks", "_tx")

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._tx: _Transaction | None = None
        self._running = False
        self._tasks: set[asyncio.Task[None]] = set()

    def obtain(
        self,
        key: Hashable,
        build: Callable[[], T],
        *,
        info: ResourceInfo | None = None,
        start: Callable[[T], Awaitable[None] | None] | None = None,
        close: Callable[[T], Awaitable[None] | None] | None = None,
    ) -> T:
        """The resource registered under ``key``, built (and, while running, started) if new.

        Args:
            key: identifies the resource; equal keys share one object.
            build: makes the resource; called at most once per key and transaction.
            info: how the resource is listed in :meth:`snapshot` (``None``: not listed).
            start: ``start(resource)``, called (awaited if async) when the service starts, or as
                soon as the resource goes live if it already runs.
            close: ``close(resource)``, called when the resource is evicted or the registry closes.
        """
        tx = self._tx
        if tx is None:
            with self.transaction():
                return self.obtain(key, build, info=info, start=start, close=close)
        tx.touched.add(key)
        entry = self._entries.get(key) or tx.staged.get(key)
        if entry is None:
            entry = tx.staged[key] = _Entry(build(), info, start, close)
        obj: T = entry.obj
        return obj

    @contextlib.contextmanager
    def transaction(self, *, evict: bool = False) -> Iterator[None]:
        """Group :meth:`obtain` calls: on success new resources go live (and, with ``evict``,
        resources not obtained inside are closed and dropped); on an exception nothing changes.

        Use ``evict=True`` for a full recompile of every chain, so that what no chain uses is
        released. Transactions do not nest.
        """
        if self._tx is not None:
            raise RuntimeError("registry transactions do not nest")
        tx = self._tx = _Transaction(evict)
        try:
            yield
        except BaseException:
            self._tx = None
            for entry in tx.staged.values():
                self._run(entry.close, entry.obj)
            raise
        self._tx = None
        for key, entry in tx.staged.items():
            self._entries[key] = entry
            if self._running:
                self._start(entry)
        if evict:
            for key in [k for k in self._entries if k not in tx.touched]:
                entry = self._entries.pop(key)
                self._run(entry.close, entry.obj)

    def snapshot(self) -> tuple[ResourceSnapshot, ...]:
        """Every listed resource with its current ``statistics()``."""
        return tuple(
            ResourceSnapshot(e.info, e.obj.statistics())
            for e in self._entries.values()
            if e.info is not None and hasattr(e.obj, "statistics")
        )

    def get(self, key: Hashable) -> Any:
        """The live resource registered under ``key``, or ``None``."""
        entry = self._entries.get(key)
        return None if entry is None else entry.obj

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    async def start(self) -> None:
        """Start every resource (the service is starting); later ones start as they are obtained."""
        self._running = True
        for entry in list(self._entries.values()):
            if not entry.started and entry.start is not None:
                entry.started = True
                result = entry.start(entry.obj)
                if inspect.isawaitable(result):
                    await result

    async def aclose(self) -> None:
        """Close every resource and wait for pending lifecycle work (the service is stopping)."""
        self._running = False
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            if entry.close is not None:
                try:
                    result = entry.close(entry.obj)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("closing a governance resource failed")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self, entry: _Entry) -> None:
        if not entry.started and entry.start is not None:
            entry.started = True
            self._run(entry.start, entry.obj)

    def _run(self, hook: Hook | None, obj: Any) -> None:
        """Run a lifecycle hook now; an async one as a task of the running loop, if any."""
        if hook is None:
            return
        result = hook(obj)
        if not inspect.isawaitable(result):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (e.g. configured before serving): nothing was started
            if inspect.iscoroutine(result):
                result.close()
            return
        task = loop.create_task(_logged(result))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _logged(aw: Awaitable[None]) -> None:
    try:
        await aw
    except Exception:
        logger.exception("a governance resource's lifecycle hook failed")
