"""What a dependency is to the client: where it runs and how calls to it are governed."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, final

import httpx

from seawall._clock import MONOTONIC, Clock
from seawall.discovery import Balancer, DNSResolver, Instance, Resolver
from seawall.errors import Rejected
from seawall.governance import BreakerPolicy, BulkheadPolicy, Policy, check_key_spec
from seawall.http._config import _NAME_PATTERN, DependencyConfig, OutlierPolicy
from seawall.retry import RetryPolicy

__all__ = ["BalancerKind", "ClientFallback", "Dependency"]

#: The balancers a dependency can name: p2c-EWMA (default), smooth weighted round robin,
#: consistent hashing by a key.
BalancerKind: TypeAlias = Literal["p2c", "round_robin", "consistent_hash"]

#: Answers a call the client refused (breaker open, bulkhead full, deadline spent) with a
#: degraded response: ``fn(request, rejection)`` returning an ``httpx.Response`` (or any
#: JSON-encodable value, sent as a 200 JSON response), or an awaitable of one.
ClientFallback: TypeAlias = Callable[[httpx.Request, Rejected], Any | Awaitable[Any]]

_NAME = re.compile(_NAME_PATTERN)
# Frozen values, shared by every Dependency that does not set its own.
_RETRIES: Final = RetryPolicy()
_BREAKER: Final = BreakerPolicy()
_OUTLIER: Final = OutlierPolicy()


def _positive(name: str, value: float | None) -> None:
    if value is not None and not 0 < value < math.inf:
        raise ValueError(f"{name} must be > 0 and finite, or None")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Dependency:
    """One service this one calls, by the name calls use as their URL host.

    Give its instances (``instances``, a fixed list) or a :class:`~seawall.discovery.Resolver`
    (DNS, or your own); everything else has defaults: a 10 s deadline per call (the caller's own
    remaining deadline applies too), up to 3 attempts within Finagle's retry budget, the adaptive
    (go-zero) breaker, p2c-EWMA balancing and Envoy-style outlier ejection.

    Args:
        name: the dependency's name: calls go to ``http://<name>/...``.
        instances: ``host:port`` addresses (or :class:`~seawall.discovery.Instance` values).
        resolver: where instances come from instead of ``instances`` (started on first use).
        service: the called service's own name, when it differs from ``name`` (the call chain
            and ``seawall graph`` use service names).
        scheme: ``http`` or ``https``.
        balancer: ``"p2c"``, ``"round_robin"``, ``"consistent_hash"``, or a factory of a
            :class:`~seawall.discovery.Balancer`.
        hash_key: for consistent hashing, the key spec read from each call (``header:x-user``,
            ``query:id``); a call may also pass ``extensions={"seawall.key": key}``.
        timeout: seconds a whole call may take, retries included; ``None``: only the caller's
            remaining deadline limits it.
        attempt_timeout: seconds one attempt may take; ``None``: what is left of the call's.
        retries: when to retry (:class:`~seawall.retry.RetryPolicy`, hedging included);
            ``None`` never retries.
        breaker: the circuit breaker (:class:`~seawall.governance.BreakerPolicy`); ``None``: none.
        bulkhead: bounded concurrent attempts with a bounded wait queue; ``None``: none.
        max_conns: attempts in flight beyond which calls are refused at once; ``None``: no limit.
        outlier: outlier ejection of instances (:class:`OutlierPolicy`); ``None``: none.
        fallback: answers calls the client refused (see :data:`ClientFallback`).
        deadline_margin: seconds taken off the remaining deadline sent downstream in
            ``X-Seawall-Deadline-Ms`` (the answer still has to travel back).
        max_connections: the size of the dependency's connection pool.

    Example::

        Dependency(name="inventory", instances=["10.0.0.1:8080", "10.0.0.2:8080"], timeout=1.0,
                   retries=RetryPolicy(max_attempts=2), fallback=lambda request, rejection: {"items": []})
    """

    name: str
    instances: Sequence[Instance | str] = ()
    resolver: Resolver | None = None
    service: str | None = None
    scheme: Literal["http", "https"] = "http"
    balancer: BalancerKind | Callable[[], Balancer] = "p2c"
    hash_key: str | None = None
    timeout: float | None = 10.0
    attempt_timeout: float | None = None
    retries: RetryPolicy | None = _RETRIES
    breaker: BreakerPolicy | None = _BREAKER
    bulkhead: BulkheadPolicy | None = None
    max_conns: int | None = None
    outlier: OutlierPolicy | None = _OUTLIER
    fallback: ClientFallback | None = None
    deadline_margin: float = 0.005
    max_connections: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"name must be a host name (letters, digits, '-', '_', '.'), not {self.name!r}")
        if self.service is not None and not _NAME.match(self.service):
            raise ValueError(f"service must be a service name, not {self.service!r}")
        if isinstance(self.instances, str):
            raise TypeError("instances must be a sequence of 'host:port' strings or Instance, not one str")
        instances = tuple(Instance.parse(i) if isinstance(i, str) else i for i in self.instances)
        object.__setattr__(self, "instances", instances)
        if instances and self.resolver is not None:
            raise ValueError("give instances or a resolver, not both")
        if self.scheme not in ("http", "https"):
            raise ValueError("scheme must be 'http' or 'https'")
        if isinstance(self.balancer, str) and self.balancer not in ("p2c", "round_robin", "consistent_hash"):
            raise ValueError("balancer must be 'p2c', 'round_robin', 'consistent_hash' or a factory")
        if self.hash_key is not None:
            check_key_spec(self.hash_key, "hash_key")
            if self.hash_key.partition(":")[0] not in ("header", "query"):
                raise ValueError("hash_key must be 'header:<name>' or 'query:<name>'")
        _positive("timeout", self.timeout)
        _positive("attempt_timeout", self.attempt_timeout)
        if self.max_conns is not None and self.max_conns < 1:
            raise ValueError("max_conns must be >= 1, or None")
        if not 0 <= self.deadline_margin < 60:
            raise ValueError("deadline_margin must be in [0, 60)")
        if self.max_connections < 1:
            raise ValueError("max_connections must be >= 1")

    @property
    def service_name(self) -> str:
        """The called service's name (``service``, else ``name``)."""
        return self.service or self.name

    @classmethod
    def from_config(
        cls, name: str, config: DependencyConfig | None, *, clock: Clock = MONOTONIC, **overrides: Any
    ) -> Dependency:
        """The dependency a ``dependencies:`` entry declares, with code-level ``overrides`` on top
        (``clock`` drives a configured DNS resolver's refreshes).

        Raises:
            TypeError: an override names no field.
            ValueError: an override is invalid.
        """
        fields: dict[str, Any] = {}
        if config is not None:
            fields = {
                "service": config.service,
                "instances": tuple(config.instances),
                "scheme": config.scheme,
                "balancer": config.balancer,
                "hash_key": config.hash_key,
                "timeout": config.timeout,
                "attempt_timeout": config.attempt_timeout,
                "retries": config.retries,
                "breaker": config.breaker,
                "bulkhead": config.bulkhead,
                "max_conns": config.max_conns,
                "outlier": config.outlier,
                "deadline_margin": config.deadline_margin,
                "max_connections": config.max_connections,
            }
            if config.dns is not None:
                d = config.dns
                fields["resolver"] = DNSResolver(
                    d.host, d.port, refresh=d.refresh, timeout=d.timeout, clock=clock
                )
        known = {f.name for f in dataclasses.fields(cls)} - {"name"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown Dependency field(s): {', '.join(unknown)}")
        if "resolver" in overrides and "instances" not in overrides:
            fields["instances"] = ()  # a resolver given in code replaces the configured instances
        if "instances" in overrides and "resolver" not in overrides:
            fields.pop("resolver", None)
        fields.update(overrides)
        return cls(name=name, **fields)

    def policy(self) -> Policy:
        """The governance policy of each attempt (the checks the breaker and bulkhead run in)."""
        return Policy(
            timeout=self.attempt_timeout,
            max_conns=self.max_conns,
            breaker=self.breaker,
            bulkhead=self.bulkhead,
            loop_detection=None,  # an inbound check: outbound calls have nothing to detect
            # Listed in the service's snapshot and /metrics (seawall_<breaker>_*{route=<name>}); the
            # attempt guard's own accounting is a no-op: calls are counted once, by the client's.
            metrics=True,
        )
