"""DNS discovery: the A/AAAA records of a name, refreshed on the clock.

A Kubernetes headless Service (``clusterIP: None``) answers with one record per ready pod, so
``DNSResolver("inventory.default.svc.cluster.local", 8080)`` follows the pods as they come and go.
The lookup is injected; the default, ``loop.getaddrinfo``, is the only socket use in this package.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Self, final

from seawall._clock import MONOTONIC, Clock
from seawall.discovery._instance import Instance, normalize
from seawall.discovery._resolver import ResolverStatistics, Subscriber, Subscribers

__all__ = ["DNSResolver", "Lookup", "getaddrinfo_lookup"]

logger = logging.getLogger("seawall.discovery")

#: ``lookup(host, port)`` answers the ``(ip, port)`` pairs the name resolves to.
Lookup = Callable[[str, int], Awaitable[Sequence[tuple[str, int]]]]


async def getaddrinfo_lookup(host: str, port: int) -> list[tuple[str, int]]:
    """Every A and AAAA address of ``host`` through the system resolver (``loop.getaddrinfo``)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(str(sockaddr[0]), int(sockaddr[1])) for _, _, _, _, sockaddr in infos]


@final
class DNSResolver:
    """Instances from the A/AAAA records of ``host``, looked up again every ``refresh`` seconds.

    :meth:`start` looks the name up once, then a background task repeats the lookup on the clock
    until :meth:`aclose`. A lookup that fails, times out or answers nothing keeps the last known
    instances: the error is counted, logged once when the resolver turns stale, and
    :meth:`statistics` says ``stale=True`` until a lookup succeeds again. Subscribers are called
    only when the set of addresses changes (compared deduplicated and sorted, so record order and
    repeats do not count as changes).

    Args:
        host: the DNS name (a headless Service name in Kubernetes).
        port: the port every instance listens on.
        refresh: seconds between lookups (> 0).
        timeout: seconds a lookup may take before it counts as failed (> 0), on the clock.
        lookup: ``async (host, port) -> [(ip, port), ...]``; defaults to ``loop.getaddrinfo``.
        clock: the time source for the refresh period and the timeout.

    Example::

        async with DNSResolver("inventory.default.svc.cluster.local", 8080) as resolver:
            resolver.subscribe(balancer.update)
            ...
    """

    __slots__ = (
        "_changes",
        "_clock",
        "_errors",
        "_host",
        "_instances",
        "_last_error",
        "_lookup",
        "_port",
        "_refresh",
        "_refreshes",
        "_subscribers",
        "_task",
        "_timeout",
    )

    def __init__(
        self,
        host: str,
        port: int,
        *,
        refresh: float = 30.0,
        timeout: float = 5.0,
        lookup: Lookup | None = None,
        clock: Clock = MONOTONIC,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise ValueError("host must be a non-empty str")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError("port must be an int in [1, 65535]")
        if not (refresh > 0 and math.isfinite(refresh)):
            raise ValueError("refresh must be > 0 and finite")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError("timeout must be > 0 and finite")
        self._host = host
        self._port = port
        self._refresh = refresh
        self._timeout = timeout
        self._lookup: Lookup = lookup if lookup is not None else getaddrinfo_lookup
        self._clock = clock
        self._instances: tuple[Instance, ...] = ()
        self._subscribers = Subscribers(f"DNSResolver({host}:{port})")
        self._task: asyncio.Task[None] | None = None
        self._refreshes = 0
        self._errors = 0
        self._changes = 0
        self._last_error: str | None = None

    @property
    def instances(self) -> tuple[Instance, ...]:
        return self._instances

    @property
    def host(self) -> str:
        """The name looked up."""
        return self._host

    @property
    def port(self) -> int:
        """The port given to every instance."""
        return self._port

    async def start(self) -> None:
        """Look up once now, then every ``refresh`` seconds in the background (idempotent)."""
        if self._task is not None:
            return
        # Claim the slot before awaiting so that a concurrent start() does not start a second loop.
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"seawall-dns:{self._host}:{self._port}"
        )
        await self.refresh()

    async def aclose(self) -> None:
        """Stop the background lookups (idempotent); the last known instances stay."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def refresh(self) -> None:
        """Look the name up now and apply the answer; never raises (errors go to statistics)."""
        self._refreshes += 1
        try:
            answer = await self._lookup_with_timeout()
            found = normalize(Instance(ip, port) for ip, port in answer)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any lookup failure keeps the last known set
            self._fail(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return
        if not found:
            self._fail("empty answer")
            return
        if self._last_error is not None:
            logger.info("DNS lookup of %s answers again: %d instances", self._host, len(found))
            self._last_error = None
        if found != self._instances:
            self._instances = found
            self._changes += 1
            self._subscribers.notify(found)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self._subscribers.add(callback, self._instances)

    def statistics(self) -> ResolverStatistics:
        return ResolverStatistics(
            instances=len(self._instances),
            refreshes=self._refreshes,
            errors=self._errors,
            changes=self._changes,
            last_error=self._last_error,
            stale=self._last_error is not None,
        )

    async def _run(self) -> None:
        # start() does the first lookup itself; this loop only repeats it.
        while True:
            await self._clock.sleep(self._refresh)
            await self.refresh()

    async def _lookup_with_timeout(self) -> Sequence[tuple[str, int]]:
        # The timeout runs on the injected clock (not asyncio.timeout), so MockClock drives it.
        lookup = asyncio.ensure_future(self._lookup(self._host, self._port))
        timer = asyncio.ensure_future(self._clock.sleep(self._timeout))
        timed_out = True
        try:
            await asyncio.wait((lookup, timer), return_when=asyncio.FIRST_COMPLETED)
            timed_out = not lookup.done()
        finally:
            timer.cancel()
            lookup.cancel()
            await asyncio.gather(lookup, timer, return_exceptions=True)
        if timed_out:
            raise TimeoutError(f"no answer within {self._timeout} s")
        return lookup.result()

    def _fail(self, error: str) -> None:
        self._errors += 1
        if self._last_error is None:
            logger.warning(
                "DNS lookup of %s failed (%s); keeping the %d last known instances",
                self._host,
                error,
                len(self._instances),
            )
        self._last_error = error

    def __repr__(self) -> str:
        return (
            f"DNSResolver({self._host!r}, {self._port!r}, refresh={self._refresh!r}, "
            f"instances={len(self._instances)!r})"
        )
