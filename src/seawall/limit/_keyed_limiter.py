"""Per-key limiters (one per client, tenant, API key) in a bounded LRU."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar, final

from seawall.limit._base import RateLimiter

__all__ = ["KeyedLimiter", "KeyedLimiterStatistics"]

L = TypeVar("L", bound=RateLimiter)


@dataclass(frozen=True, slots=True)
class KeyedLimiterStatistics:
    """A snapshot of a :class:`KeyedLimiter`."""

    #: Calls to ``try_acquire`` that were admitted.
    admitted: int
    #: Calls to ``try_acquire`` that were refused.
    rejected: int
    #: Keys currently tracked.
    keys: int
    #: Keys dropped from the LRU to stay within ``max_keys``.
    evicted: int
    #: The most keys tracked at once.
    max_keys: int


@final
class KeyedLimiter(Generic[L]):
    """Give every key (client IP, API key, tenant) its own limiter, made by ``factory``.

    Use it for per-client limits: ``KeyedLimiter(lambda: TokenBucket(rate=10, burst=20))``
    allows each client 10/s with bursts of 20, whatever the others do. Limiters are created on a
    key's first use and kept in an LRU of at most ``max_keys``; the least recently used key is
    dropped first, and a dropped key that returns gets a fresh limiter (so under a flood of
    distinct keys the oldest clients are forgiven; size ``max_keys`` above the number of clients
    active within a limit's period).

    The same shape as nginx ``limit_req_zone $binary_remote_addr`` (a shared zone of per-key
    states with LRU expiry, ``ngx_http_limit_req_module.c``) and go-zero's per-key
    ``PeriodLimit``/``TokenLimiter`` (``core/limit/``), in process.

    Args:
        factory: makes the limiter for a new key (any :class:`RateLimiter`).
        max_keys: the most keys tracked at once (>= 1).

    Example::

        per_client = KeyedLimiter(lambda: TokenBucket(rate=10, burst=20))
        if not per_client.try_acquire(client_ip):
            raise RateLimited(retry_after=per_client.retry_after(client_ip))
    """

    __slots__ = ("_admitted", "_evicted", "_factory", "_limiters", "_max_keys", "_rejected")

    def __init__(self, factory: Callable[[], L], *, max_keys: int = 10_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self._factory = factory
        self._max_keys = int(max_keys)
        self._limiters: OrderedDict[Hashable, L] = OrderedDict()
        self._admitted = 0
        self._rejected = 0
        self._evicted = 0

    def get(self, key: Hashable) -> L:
        """The limiter for ``key``, created if needed; marks ``key`` as recently used."""
        limiter = self._limiters.get(key)
        if limiter is not None:
            self._limiters.move_to_end(key)
            return limiter
        limiter = self._limiters[key] = self._factory()
        if len(self._limiters) > self._max_keys:
            self._limiters.popitem(last=False)
            self._evicted += 1
        return limiter

    def try_acquire(self, key: Hashable, n: int = 1) -> bool:
        """Ask ``key``'s limiter to admit ``n`` units."""
        if self.get(key).try_acquire(n):
            self._admitted += 1
            return True
        self._rejected += 1
        return False

    def retry_after(self, key: Hashable, n: int = 1) -> float:
        """``key``'s limiter's :meth:`~RateLimiter.retry_after`; tracks no new key."""
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._factory()  # what a new key would get
        return limiter.retry_after(n)

    def __len__(self) -> int:
        return len(self._limiters)

    def __contains__(self, key: object) -> bool:
        return key in self._limiters

    def statistics(self) -> KeyedLimiterStatistics:
        """A frozen snapshot of the counters and the LRU's size."""
        return KeyedLimiterStatistics(
            admitted=self._admitted,
            rejected=self._rejected,
            keys=len(self._limiters),
            evicted=self._evicted,
            max_keys=self._max_keys,
        )

    def __repr__(self) -> str:
        return f"KeyedLimiter(keys={len(self._limiters)}, max_keys={self._max_keys!r})"
