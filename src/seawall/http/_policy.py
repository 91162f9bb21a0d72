"""Per-route governance policy: what the compiled chain enforces for one route.

A :class:`Policy` is plain configuration (a msgspec Struct), so the same shape comes from code
(``@service.get(..., policy=Policy(timeout=1.0))``), from ``seawall.yaml`` (``routes:`` section) and
from the rules API at run time. It holds no state; the chain compiler turns it into checks.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = ["BARE", "DEFAULT_POLICY", "Policy"]


class Policy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Governance for one route.

    Attributes:
        timeout: seconds the handler may run before it is cancelled with 504
            ``DEADLINE_EXCEEDED``; ``None`` for no limit.
        max_conns: concurrent requests admitted on this route (go-zero ``MaxConns``); beyond it
            the request is rejected at once with 503 ``OVERLOADED``. ``None`` for no limit.
        max_body: largest request body accepted, in bytes (413 beyond it).
        metrics: count requests and latency in ``/metrics``.
    """

    timeout: float | None = 10.0
    max_conns: int | None = 10_000
    max_body: int = 1 << 20
    metrics: bool = True

    def __post_init__(self) -> None:
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("timeout must be > 0 (or None)")
        if self.max_conns is not None and self.max_conns < 1:
            raise ValueError("max_conns must be >= 1 (or None)")
        if self.max_body < 0:
            raise ValueError("max_body must be >= 0")


#: The default chain: concurrency limit, timeout and request metrics.
DEFAULT_POLICY: Final = Policy()

#: No checks and no metrics: the handler alone (built-in endpoints and benchmarks use it).
BARE: Final = Policy(timeout=None, max_conns=None, metrics=False)
