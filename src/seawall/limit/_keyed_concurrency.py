"""Per-key concurrency limits: at most ``limit`` in flight per client key (nginx ``limit_conn``)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import final

__all__ = ["KeyedConcurrencyLimit", "KeyedConcurrencyLimitStatistics"]


@dataclass(frozen=True, slots=True)
class KeyedConcurrencyLimitStatistics:
    """A snapshot of a :class:`KeyedConcurrencyLimit`."""

    #: Calls to ``try_acquire`` that were admitted.
    admitted: int
    #: Calls to ``try_acquire`` that were refused (the key was at its limit, or too many keys).
    rejected: int
    #: Requests admitted and not yet released, over every key.
    in_flight: int
    #: Keys with requests in flight now.
    keys: int
    #: The most requests allowed in flight per key.
    limit: int


@final
class KeyedConcurrencyLimit:
    """Admit a request only while its key has fewer than ``limit`` in flight; never wait.

    nginx ``limit_conn`` semantics (``ngx_http_limit_conn_module.c``): a count per key, up on
    admission, down in cleanup, refused at the limit. Only keys with requests in flight are
    held, so memory follows concurrency, not the number of clients ever seen; ``max_keys``
    bounds it under a flood of distinct keys (a new key is refused when the table is full).

    Args:
        limit: the most requests in flight per key (>= 1).
        max_keys: the most keys with requests in flight at once (>= 1).

    Example::

        per_client = KeyedConcurrencyLimit(limit=2)
        if not per_client.try_acquire(client_ip):
            raise Overloaded()
        try:
            ...
        finally:
            per_client.release(client_ip)
    """

    __slots__ = ("_admitted", "_counts", "_in_flight", "_limit", "_max_keys", "_rejected")

    def __init__(self, *, limit: int, max_keys: int = 100_000) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self._limit = int(limit)
        self._max_keys = int(max_keys)
        self._counts: dict[Hashable, int] = {}
        self._in_flight = 0
        self._admitted = 0
        self._rejected = 0

    @property
    def limit(self) -> int:
        """The most requests allowed in flight per key."""
        return self._limit

    def in_flight(self, key: Hashable) -> int:
        """Requests of ``key`` admitted and not yet released."""
        return self._counts.get(key, 0)

    def try_acquire(self, key: Hashable) -> bool:
        """Take a slot for ``key`` if it has one free; otherwise return False at once."""
        n = self._counts.get(key, 0)
        if n >= self._limit or (n == 0 and len(self._counts) >= self._max_keys):
            self._rejected += 1
            return False
        self._counts[key] = n + 1
        self._in_flight += 1
        self._admitted += 1
        return True

    def release(self, key: Hashable) -> None:
        """Give back a slot of ``key`` taken by a successful :meth:`try_acquire`."""
        n = self._counts.get(key, 0)
        if n == 0:
            raise RuntimeError("release() without a matching successful try_acquire()")
        if n == 1:
            del self._counts[key]  # the table holds only keys with requests in flight
        else:
            self._counts[key] = n - 1
        self._in_flight -= 1

    def statistics(self) -> KeyedConcurrencyLimitStatistics:
        """A frozen snapshot."""
        return KeyedConcurrencyLimitStatistics(
            admitted=self._admitted,
            rejected=self._rejected,
            in_flight=self._in_flight,
            keys=len(self._counts),
            limit=self._limit,
        )

    def __repr__(self) -> str:
        return f"KeyedConcurrencyLimit(limit={self._limit!r}, keys={len(self._counts)!r})"
