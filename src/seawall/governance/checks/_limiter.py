"""The check that adapts any non-waiting rate limiter (token bucket, sliding window, warm-up),
shared by the ``rate_limit``, ``window`` and ``warmup`` sections: one limiter for everyone, or one
per client key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, final

from seawall.errors import RateLimited
from seawall.governance._call import Call
from seawall.governance._check import CompileContext, Exit
from seawall.governance._keys import KeyFn, KeySpec
from seawall.governance._registry import ResourceInfo
from seawall.limit import KeyedLimiter, RateLimiter

__all__ = ["MAX_KEYS", "LimiterCheck", "limiter_check"]

#: Client keys tracked per keyed limit (LRU); see :class:`~seawall.limit.KeyedLimiter`.
MAX_KEYS: Final = 10_000


@final
class LimiterCheck:
    """429 when the limiter (for this call's key) has no room; ``Retry-After`` from its state."""

    __slots__ = ("_key", "_keyed", "_single", "cost", "name")
    wants_outcome = False  # no exit

    def __init__(
        self, name: str, cost: int, limiter: RateLimiter | KeyedLimiter[RateLimiter], key: KeyFn | None
    ) -> None:
        """``key`` is ``None`` (and ``limiter`` a plain limiter) for one limit shared by everyone."""
        self.name = name
        self.cost = cost
        self._single: RateLimiter | None = None
        self._keyed: KeyedLimiter[RateLimiter] | None = None
        if isinstance(limiter, KeyedLimiter):
            self._keyed = limiter
        else:
            self._single = limiter
        self._key = key

    @property
    def limiter(self) -> RateLimiter | KeyedLimiter[RateLimiter]:
        limiter = self._single if self._single is not None else self._keyed
        assert limiter is not None
        return limiter

    def enter(self, call: Call) -> Exit | None:
        single = self._single
        if single is not None:
            if single.try_acquire():
                return None
            raise RateLimited(retry_after=single.retry_after(), check=self.name)
        assert self._keyed is not None
        assert self._key is not None
        key = self._key(call)
        if self._keyed.try_acquire(key):
            return None
        raise RateLimited(retry_after=self._keyed.retry_after(key), check=self.name)


def limiter_check(
    ctx: CompileContext,
    name: str,
    cost: int,
    config: Any,
    kind: str,
    factory: Callable[[], RateLimiter],
    key: KeySpec,
) -> LimiterCheck:
    """The :class:`LimiterCheck` of one section, its limiter obtained from the registry."""
    keyfn = None if key == "global" else ctx.key(key)
    limiter: RateLimiter | KeyedLimiter[RateLimiter]
    if keyfn is None:
        limiter = ctx.registry.obtain(
            ctx.resource_key(name, config), factory, info=ResourceInfo(kind, ctx.target, ctx.method, name)
        )
    else:
        limiter = ctx.registry.obtain(
            ctx.resource_key(name, config),
            lambda: KeyedLimiter(factory, max_keys=MAX_KEYS),
            info=ResourceInfo(f"keyed_{kind}", ctx.target, ctx.method, name),
        )
    return LimiterCheck(name, cost, limiter, keyfn)
