"""Dependency: validation, building from ``dependencies:``, code overrides, the attempt policy."""

from __future__ import annotations

import pytest

from seawall.discovery import DNSResolver, Instance, StaticResolver
from seawall.governance import BreakerPolicy, BulkheadPolicy
from seawall.http._config import decode_dependency
from seawall.http.client import Dependency, OutlierPolicy
from seawall.retry import RetryPolicy


def test_instances_are_parsed() -> None:
    """``host:port`` strings become Instances."""
    dep = Dependency(name="inventory", instances=["10.0.0.1:80", Instance("10.0.0.2", 81)])
    assert dep.instances == (Instance("10.0.0.1", 80), Instance("10.0.0.2", 81))


def test_defaults() -> None:
    """Defaults: 10 s deadline, 3 attempts in the budget, adaptive breaker, p2c, outlier ejection."""
    dep = Dependency(name="inventory", instances=["10.0.0.1:80"])
    assert dep.timeout == 10.0
    assert dep.retries == RetryPolicy()
    assert dep.breaker == BreakerPolicy()
    assert dep.balancer == "p2c"
    assert dep.outlier == OutlierPolicy()
    assert dep.service_name == "inventory"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name"}, "name must be a host name"),
        ({"name": "x", "service": "a,b"}, "service must be a service name"),
        ({"name": "x", "instances": "10.0.0.1:80"}, "not one str"),
        (
            {"name": "x", "instances": ["10.0.0.1:80"], "resolver": StaticResolver(["10.0.0.1:80"])},
            "not both",
        ),
        ({"name": "x", "scheme": "ftp"}, "scheme"),
        ({"name": "x", "balancer": "random"}, "balancer"),
        ({"name": "x", "hash_key": "ip"}, "hash_key"),
        ({"name": "x", "timeout": 0}, "timeout must be > 0"),
        ({"name": "x", "attempt_timeout": float("inf")}, "attempt_timeout"),
        ({"name": "x", "max_conns": 0}, "max_conns"),
        ({"name": "x", "deadline_margin": -1}, "deadline_margin"),
        ({"name": "x", "max_connections": 0}, "max_connections"),
    ],
)
def test_invalid(kwargs: dict[str, object], message: str) -> None:
    """Invalid settings are refused at construction, naming the field."""
    with pytest.raises((ValueError, TypeError), match=message):
        Dependency(**kwargs)  # type: ignore[arg-type]


def test_from_config_with_overrides() -> None:
    """A ``dependencies:`` entry gives the fields; code overrides win."""
    config = decode_dependency(
        "inventory", {"instances": ["10.0.0.1:80"], "timeout": 1.0, "retries": {"max_attempts": 2}}
    )
    dep = Dependency.from_config("inventory", config, timeout=2.0, bulkhead=BulkheadPolicy(max_concurrent=4))
    assert dep.instances == (Instance("10.0.0.1", 80),)
    assert dep.timeout == 2.0
    assert dep.retries == RetryPolicy(max_attempts=2)
    assert dep.bulkhead == BulkheadPolicy(max_concurrent=4)


def test_from_config_dns() -> None:
    """``dns:`` becomes a DNSResolver; instances given in code replace it."""
    config = decode_dependency("inventory", {"dns": {"host": "inventory.svc", "port": 8080}})
    assert isinstance(Dependency.from_config("inventory", config).resolver, DNSResolver)
    dep = Dependency.from_config("inventory", config, instances=["10.0.0.1:80"])
    assert dep.resolver is None
    assert dep.instances == (Instance("10.0.0.1", 80),)


def test_resolver_in_code_replaces_configured_instances() -> None:
    """A resolver given in code replaces the file's instances."""
    config = decode_dependency("inventory", {"instances": ["10.0.0.1:80"]})
    resolver = StaticResolver(["10.0.0.9:80"])
    dep = Dependency.from_config("inventory", config, resolver=resolver)
    assert dep.instances == ()
    assert dep.resolver is resolver


def test_unknown_override() -> None:
    """An override that names no field is a TypeError."""
    with pytest.raises(TypeError, match="retry"):
        Dependency.from_config("inventory", None, retry=None)


def test_policy_of_attempts() -> None:
    """The attempt policy carries the breaker, bulkhead, concurrency and attempt timeout; no loop check."""
    dep = Dependency(
        name="x",
        instances=["10.0.0.1:80"],
        attempt_timeout=0.5,
        max_conns=7,
        bulkhead=BulkheadPolicy(max_concurrent=3),
    )
    policy = dep.policy()
    assert (policy.timeout, policy.max_conns, policy.bulkhead) == (0.5, 7, BulkheadPolicy(max_concurrent=3))
    assert policy.breaker == BreakerPolicy()
    assert policy.loop_detection is None
    assert policy.metrics is True  # its resources are listed with the service's
