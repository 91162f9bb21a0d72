"""``max_conns_per_client``: at most N calls in flight per client key (nginx ``limit_conn``)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final, final

from seawall.errors import Overloaded
from seawall.governance._call import Call, Outcome
from seawall.governance._check import CompileContext, Exit, register_check
from seawall.governance._keys import KeyFn
from seawall.governance._policy import Policy, Section, define_section
from seawall.governance._registry import ResourceInfo
from seawall.governance.checks._types import Count, Key
from seawall.limit import KeyedConcurrencyLimit

__all__ = ["CLIENT_KEY", "MAX_CONNS_PER_CLIENT", "ClientConcurrencyCheck"]

#: Concurrent calls admitted per client (``client_key``); ``None`` for no limit.
MAX_CONNS_PER_CLIENT: Final[Section[int | None]] = define_section(
    "max_conns_per_client", Count | None, None, "calls in flight per client (503 beyond)"
)
#: How clients are told apart for per-client limits (a key spec).
CLIENT_KEY: Final[Section[str]] = define_section("client_key", Key, "ip", "key spec of per-client limits")


@final
class ClientConcurrencyCheck:
    """503 when this client already has its limit in flight (adapts :class:`KeyedConcurrencyLimit`)."""

    __slots__ = ("_key", "limit")
    name = "client_concurrency"
    cost = 12
    wants_outcome = False  # the exit only gives the slot back

    def __init__(self, limit: KeyedConcurrencyLimit, key: KeyFn) -> None:
        self.limit = limit
        self._key = key

    def enter(self, call: Call) -> Exit | None:
        key = self._key(call)
        if self.limit.try_acquire(key):
            return _Leave(self.limit, key)
        raise Overloaded(
            f"{self.limit.limit} requests of this client already in flight", retry_after=1.0, check=self.name
        )


@final
class _Leave:
    __slots__ = ("key", "limit")

    def __init__(self, limit: KeyedConcurrencyLimit, key: Hashable) -> None:
        self.limit = limit
        self.key = key

    def __call__(self, outcome: Outcome) -> None:
        self.limit.release(self.key)


def _factory(policy: Policy, ctx: CompileContext) -> ClientConcurrencyCheck | None:
    n = policy[MAX_CONNS_PER_CLIENT]
    if n is None:
        return None
    key = ctx.key(policy[CLIENT_KEY], field="", section=CLIENT_KEY.name)
    limit = ctx.registry.obtain(
        ctx.resource_key("client_concurrency", (n, policy[CLIENT_KEY])),
        lambda: KeyedConcurrencyLimit(limit=n),
        info=ResourceInfo("keyed_concurrency", ctx.target, ctx.method, ClientConcurrencyCheck.name),
    )
    return ClientConcurrencyCheck(limit, key)


register_check(MAX_CONNS_PER_CLIENT.name, _factory)
