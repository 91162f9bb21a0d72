"""Service discovery and client-side load balancing: where a dependency's calls can go.

- **Instances** (:class:`Instance`) are immutable ``host:port`` values with a weight, a zone and
  metadata.
- **Resolvers** (:class:`Resolver`) keep a dependency's current instances and tell subscribers
  when they change: :class:`StaticResolver` (a config list), :class:`DNSResolver` (A/AAAA records,
  e.g. a Kubernetes headless Service). A failing source never empties the pool: the last known
  instances stay and the resolver reports itself stale.
- **Balancers** (:class:`Balancer`) choose an instance per call and learn from
  :meth:`Pick.done`: :class:`P2CEwmaBalancer` (default; go-zero's p2c-EWMA),
  :class:`RoundRobinBalancer` (nginx's smooth weighted round robin),
  :class:`ConsistentHashBalancer` (by key, virtual nodes).
- **Outlier ejection** (:class:`OutlierDetector`, Envoy's consecutive-failure detector) takes a
  failing instance out for a growing time; its :meth:`~OutlierDetector.ejected` set is passed to
  ``pick(exclude=...)``.

Everything here is pure logic on an injected clock and random generator, with ``statistics()``
snapshots. This package must not speak HTTP or open sockets (the one exception is the default
lookup of :class:`DNSResolver`, ``loop.getaddrinfo``); the transport that sends the calls lives
in ``seawall.http``.

Example::

    resolver = DNSResolver("inventory.default.svc.cluster.local", 8080)
    balancer = P2CEwmaBalancer()
    detector = OutlierDetector()
    await resolver.start()
    resolver.subscribe(balancer.update)
    resolver.subscribe(detector.update)

    pick = balancer.pick(exclude=detector.ejected())
    ...  # send the call to pick.instance.address
    pick.done(ok=ok)
    detector.record(pick.instance, ok=ok)
"""

from __future__ import annotations

from seawall.discovery._balancer import Balancer, BalancerStatistics, InstanceStatistics, Pick
from seawall.discovery._consistent_hash import ConsistentHashBalancer, blake2b64
from seawall.discovery._dns import DNSResolver, Lookup, getaddrinfo_lookup
from seawall.discovery._instance import Instance
from seawall.discovery._outlier import (
    Ejector,
    HostOutlierStatistics,
    NoopOutlierDetector,
    OutlierDetector,
    OutlierStatistics,
)
from seawall.discovery._p2c import P2CEwmaBalancer
from seawall.discovery._resolver import Resolver, ResolverStatistics, StaticResolver, Subscriber
from seawall.discovery._round_robin import RoundRobinBalancer

__all__ = [
    "Balancer",
    "BalancerStatistics",
    "ConsistentHashBalancer",
    "DNSResolver",
    "Ejector",
    "HostOutlierStatistics",
    "Instance",
    "InstanceStatistics",
    "Lookup",
    "NoopOutlierDetector",
    "OutlierDetector",
    "OutlierStatistics",
    "P2CEwmaBalancer",
    "Pick",
    "Resolver",
    "ResolverStatistics",
    "RoundRobinBalancer",
    "StaticResolver",
    "Subscriber",
    "blake2b64",
    "getaddrinfo_lookup",
]
