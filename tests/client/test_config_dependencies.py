"""The ``dependencies:`` section of seawall.yaml: decoded per entry, errors naming the leaf."""

from __future__ import annotations

from pathlib import Path

import pytest

from seawall.errors import ConfigError
from seawall.governance import BreakerPolicy
from seawall.http._config import DependencyConfig, SeawallConfig, load_config
from seawall.retry import HedgePolicy, RetryPolicy

YAML = """
dependencies:
  inventory:
    instances: ["10.0.0.1:8080", "[::1]:8081"]
    timeout: 1.5
    retries: {max_attempts: 2, hedge: {delay: 0.05}}
    breaker: {kind: circuit, failure_rate_threshold: 40}
    balancer: round_robin
  pricing:
    dns: {host: pricing.default.svc, port: 8080, refresh: 5}
    retries: null
    breaker: null
"""


def test_dependencies_load(tmp_path: Path) -> None:
    """Each entry becomes a DependencyConfig with its sections validated."""
    path = tmp_path / "seawall.yaml"
    path.write_text(YAML)
    cfg = load_config(path)
    inventory = cfg.dependency("inventory")
    assert isinstance(inventory, DependencyConfig)
    assert inventory.instances == ["10.0.0.1:8080", "[::1]:8081"]
    assert inventory.retries == RetryPolicy(max_attempts=2, hedge=HedgePolicy(delay=0.05))
    assert inventory.breaker == BreakerPolicy(kind="circuit", failure_rate_threshold=40)
    pricing = cfg.dependency("pricing")
    assert pricing is not None
    assert (pricing.retries, pricing.breaker) == (None, None)
    assert pricing.dns is not None
    assert pricing.dns.refresh == 5
    assert cfg.dependency("other") is None


def test_environment_overrides_a_dependency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``SEAWALL_DEPENDENCIES__INVENTORY__TIMEOUT`` overrides the file."""
    path = tmp_path / "seawall.yaml"
    path.write_text(YAML)
    monkeypatch.setenv("SEAWALL_DEPENDENCIES__INVENTORY__TIMEOUT", "0.25")
    inventory = load_config(path).dependency("inventory")
    assert inventory is not None
    assert inventory.timeout == 0.25


@pytest.mark.parametrize(
    ("entry", "path"),
    [
        ("{retries: {nope: 1}}", "$.dependencies.inventory.retries.nope"),
        ("{retries: {max_attempts: 0}}", "$.dependencies.inventory.retries.max_attempts"),
        ("{breaker: {k: 0.5}}", "$.dependencies.inventory.breaker.k"),
        ("{breaker: {kind: circuit, k: 2}}", "$.dependencies.inventory.breaker.k"),
        ('{instances: ["10.0.0.1:x"]}', "$.dependencies.inventory.instances[0]"),
        ("{timeout: -1}", "$.dependencies.inventory.timeout"),
        ("{bogus: 1}", "$.dependencies.inventory.bogus"),
        ("{hash_key: ip}", "$.dependencies.inventory.hash_key"),
        ('{instances: ["10.0.0.1:1"], dns: {host: x, port: 1}}', "$.dependencies.inventory.instances"),
        (
            "{outlier: {base_ejection_time: 10, max_ejection_time: 5}}",
            "$.dependencies.inventory.outlier.max_ejection_time",
        ),
        ("{dns: {host: x}}", "$.dependencies.inventory.dns.port"),
        ("[1, 2]", "$.dependencies.inventory"),
    ],
)
def test_errors_name_the_leaf(tmp_path: Path, entry: str, path: str) -> None:
    """An invalid dependency setting fails at load, naming its field."""
    file = tmp_path / "seawall.yaml"
    file.write_text(f"dependencies:\n  inventory: {entry}\n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert info.value.path == path


def test_invalid_name(tmp_path: Path) -> None:
    """A dependency name that cannot be a URL host is refused."""
    with pytest.raises(ConfigError, match="not a valid host name"):
        SeawallConfig(dependencies={"in ventory": {}})


def test_built_in_code() -> None:
    """A config built in code validates its dependencies the same way."""
    cfg = SeawallConfig(dependencies={"inventory": {"instances": ["10.0.0.1:80"]}})
    assert isinstance(cfg.dependency("inventory"), DependencyConfig)
