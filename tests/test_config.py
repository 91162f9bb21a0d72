"""Typed configuration: YAML/TOML files, ``SEAWALL_SECTION__KEY`` overrides, errors naming the field."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from seawall import ConfigError, Service, config
from seawall.http._config import SeawallConfig, find_config, load_config


@pytest.fixture(autouse=True)
def _no_seawall_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts in an empty directory with no ``SEAWALL_*`` variables."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("SEAWALL_"):
            monkeypatch.delenv(name)


class Inner(msgspec.Struct):
    size: int = 1


class Outer(msgspec.Struct):
    inner: Inner = msgspec.field(default_factory=Inner)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


YAML = """
server:
  port: 8081
  workers: 2
default:
  timeout: 2.5
routes:
  "GET /hello":
    max_conns: 500
"""


def test_yaml_file_loads(tmp_path: Path) -> None:
    """A YAML file is decoded into the typed schema."""
    cfg = config.load(SeawallConfig, write(tmp_path / "seawall.yaml", YAML), environ={})
    assert (cfg.server.port, cfg.server.workers) == (8081, 2)
    assert cfg.default == {"timeout": 2.5}
    assert cfg.routes == {"GET /hello": {"max_conns": 500}}


def test_toml_file_loads(tmp_path: Path) -> None:
    """A TOML file with the same content gives the same configuration."""
    toml = (
        "[server]\nport = 8081\nworkers = 2\n\n[default]\ntimeout = 2.5\n\n"
        '[routes."GET /hello"]\nmax_conns = 500\n'
    )
    from_toml = config.load(SeawallConfig, write(tmp_path / "seawall.toml", toml), environ={})
    from_yaml = config.load(SeawallConfig, write(tmp_path / "seawall.yaml", YAML), environ={})
    assert from_toml == from_yaml


def test_yml_suffix_is_yaml(tmp_path: Path) -> None:
    """``.yml`` is read as YAML too."""
    cfg = config.load(SeawallConfig, write(tmp_path / "c.yml", "server: {port: 1234}\n"), environ={})
    assert cfg.server.port == 1234


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    """An empty file is an empty mapping: every field takes its default."""
    assert config.load(SeawallConfig, write(tmp_path / "c.yaml", ""), environ={}) == SeawallConfig()


def test_env_override_wins_over_file(tmp_path: Path) -> None:
    """``SEAWALL_SERVER__PORT=9000`` overrides the file's port."""
    path = write(tmp_path / "seawall.yaml", YAML)
    cfg = config.load(SeawallConfig, path, environ={"SEAWALL_SERVER__PORT": "9000"})
    assert cfg.server.port == 9000
    assert cfg.server.workers == 2  # the rest of the section is kept


def test_env_override_from_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_config`` reads overrides from ``os.environ``."""
    path = write(tmp_path / "seawall.yaml", YAML)
    monkeypatch.setenv("SEAWALL_SERVER__PORT", "9000")
    assert load_config(path).server.port == 9000


def test_env_values_are_yaml_scalars() -> None:
    """Override values are typed like YAML scalars, nested with ``__``."""
    cfg = config.load(
        SeawallConfig,
        environ={"SEAWALL_DEFAULT__TIMEOUT": "0.5", "SEAWALL_DEFAULT__METRICS": "false", "OTHER__X": "1"},
    )
    assert cfg.default == {"timeout": 0.5, "metrics": False}


def test_apply_env_ignores_names_without_nesting() -> None:
    """Variables without ``__`` (like ``SEAWALL_CONFIG``) are not overrides."""
    assert config.apply_env({}, {"SEAWALL_CONFIG": "x.yaml", "SEAWALL_SERVER__HOST": "0.0.0.0"}) == {
        "server": {"host": "0.0.0.0"}
    }


def test_bad_field_names_its_path(tmp_path: Path) -> None:
    """A field of the wrong type raises ConfigError with ``.path == "$.server.port"`` and the file."""
    path = write(tmp_path / "seawall.yaml", "server:\n  port: eighty\n")
    with pytest.raises(ConfigError) as info:
        config.load(SeawallConfig, path, environ={})
    assert info.value.path == "$.server.port"
    assert info.value.source == str(path)
    assert "$.server.port" in str(info.value)


def test_bad_env_value_names_its_path() -> None:
    """A bad override is reported at the field it overrides."""
    with pytest.raises(ConfigError) as info:
        config.load(SeawallConfig, environ={"SEAWALL_SERVER__PORT": "lots"})
    assert info.value.path == "$.server.port"


def test_unknown_field_names_its_section_and_itself(tmp_path: Path) -> None:
    """An unknown key is refused with the path of its section and its name in the message."""
    path = write(tmp_path / "seawall.yaml", "server:\n  prot: 80\n")
    with pytest.raises(ConfigError) as info:
        config.load(SeawallConfig, path, environ={})
    assert info.value.path == "$.server"
    assert "prot" in str(info.value)


def test_unknown_top_level_field(tmp_path: Path) -> None:
    """An unknown top-level key is refused at ``$`` naming the key."""
    path = write(tmp_path / "seawall.yaml", "sever:\n  port: 80\n")
    with pytest.raises(ConfigError, match="sever") as info:
        config.load(SeawallConfig, path, environ={})
    assert info.value.path == "$"


def test_invalid_value_caught_by_validation(tmp_path: Path) -> None:
    """A value out of the field's range (port 70000) is a ConfigError naming ``$.server.port``."""
    path = write(tmp_path / "seawall.yaml", "server:\n  port: 70000\n")
    with pytest.raises(ConfigError, match=r"<= 65535") as info:
        config.load(SeawallConfig, path, environ={})
    assert info.value.path == "$.server.port"


def test_unreadable_file(tmp_path: Path) -> None:
    """A missing file is a ConfigError naming the file."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="cannot read config file") as info:
        config.load(SeawallConfig, missing, environ={})
    assert info.value.source == str(missing)


def test_unknown_suffix(tmp_path: Path) -> None:
    """Only .yaml, .yml and .toml files are accepted."""
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.toml"):
        config.read_file(write(tmp_path / "seawall.json", "{}"))


def test_unparsable_yaml(tmp_path: Path) -> None:
    """A YAML syntax error is a ConfigError, not a raw decoder error."""
    with pytest.raises(ConfigError, match="cannot parse"):
        config.read_file(write(tmp_path / "c.yaml", "server: [unclosed\n"))


def test_unparsable_toml(tmp_path: Path) -> None:
    """A TOML syntax error is a ConfigError."""
    with pytest.raises(ConfigError, match="cannot parse"):
        config.read_file(write(tmp_path / "c.toml", "server = = 1\n"))


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    """A file holding a list at the top level is refused."""
    with pytest.raises(ConfigError, match="mapping at the top level"):
        config.read_file(write(tmp_path / "c.yaml", "- a\n- b\n"))


def test_generic_schema() -> None:
    """``config.load`` works with any Struct schema."""

    assert config.load(Outer, environ={}) == Outer()
    assert config.load(Outer, environ={"SEAWALL_INNER__SIZE": "3"}) == Outer(Inner(3))
    assert config.load(Outer, environ={"APP_INNER__SIZE": "4"}) == Outer()  # other prefixes ignored


def test_find_config_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit path beats ``$SEAWALL_CONFIG``, which beats ``./seawall.yaml``."""
    assert find_config() is None
    write(tmp_path / "seawall.yaml", "")
    assert find_config() == Path("seawall.yaml")
    monkeypatch.setenv("SEAWALL_CONFIG", "/etc/other.yaml")
    assert find_config() == Path("/etc/other.yaml")
    assert find_config("explicit.toml") == Path("explicit.toml")


async def test_startup_applies_the_config_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Service.startup()`` applies the file ``$SEAWALL_CONFIG`` names (as ``seawall run`` sets it)."""
    cfg = write(
        tmp_path / "conf.yaml", 'routes:\n  "GET /hello":\n    max_conns: 3\ndefault:\n  timeout: 1.5\n'
    )
    monkeypatch.setenv("SEAWALL_CONFIG", str(cfg))
    svc = Service("cfg")
    svc.get("/hello")(lambda: None)
    svc.get("/other")(lambda: None)
    await svc.startup()
    try:
        policies = {ep.route: ep.chain.policy for ep in svc.endpoints()}
    finally:
        await svc.shutdown()
    assert policies["/hello"].max_conns == 3
    assert policies["/other"].timeout == 1.5


async def test_startup_reads_no_file_of_its_own(tmp_path: Path) -> None:
    """Without ``$SEAWALL_CONFIG`` a ``./seawall.yaml`` in the working directory is not read."""
    write(tmp_path / "seawall.yaml", 'routes:\n  "GET /hello":\n    max_conns: 3\n')
    svc = Service("cfg")
    svc.get("/hello")(lambda: None)
    await svc.startup()
    await svc.shutdown()
    assert svc.config is None
    assert svc.endpoints()[-1].chain.policy.max_conns == 10_000


async def test_startup_refuses_config_for_unknown_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config naming a route the service lacks fails startup with the route's path."""
    cfg = write(tmp_path / "conf.yaml", 'routes:\n  "GET /missing":\n    max_conns: 3\n')
    monkeypatch.setenv("SEAWALL_CONFIG", str(cfg))
    svc = Service("cfg")
    with pytest.raises(ConfigError) as info:
        await svc.startup()
    assert info.value.path == '$.routes["GET /missing"]'
    assert not svc.ready


def test_configure_accepts_a_path(tmp_path: Path) -> None:
    """``Service(config=path)`` applies the file at construction, explicitly."""
    cfg = write(tmp_path / "conf.yaml", "default:\n  timeout: 1.25\n")
    svc = Service("cfg", config=cfg)
    svc.get("/x")(lambda: None)
    assert svc.endpoints()[-1].chain.policy.timeout == 1.25


def test_env_override_of_a_top_level_key() -> None:
    """SEAWALL__REDIS_URL (leading double underscore) sets the top-level ``redis_url``."""
    cfg = config.load(SeawallConfig, environ={"SEAWALL__REDIS_URL": "redis://127.0.0.1:6390/0"})
    assert cfg.redis_url == "redis://127.0.0.1:6390/0"


@pytest.mark.parametrize(
    ("env", "path"),
    [
        ({"SEAWALL_DEFAULT__PACING": "{rate: 0}"}, "$.default.pacing.rate"),
        ({"SEAWALL_DEFAULT__WARMUP": "{count: 10, cold_factor: 1}"}, "$.default.warmup.cold_factor"),
        ({"SEAWALL_DEFAULT__HOTSPOTS": "[{key: 'path:id', rate: -1}]"}, "$.default.hotspots[0].rate"),
        ({"SEAWALL_DEFAULT__TIMEOUT": ".nan"}, "$.default.timeout"),
        ({"SEAWALL_DEFAULT__TIMEOUT": ".inf"}, "$.default.timeout"),
        ({"SEAWALL_DEFAULT__TIMEOUT": "1e307"}, "$.default.timeout"),
        ({"SEAWALL_DEFAULT__RATE_LIMIT": "{rate: .inf}"}, "$.default.rate_limit.rate"),
        ({"SEAWALL_DEFAULT__WINDOW": "{limit: 5, window: .nan}"}, "$.default.window.window"),
        ({"SEAWALL_DEFAULT__RATE_LIMIT": "{rate: 5, key: 'nope'}"}, "$.default.rate_limit.key"),
        ({"SEAWALL_DEFAULT__RATE_LIMIT": "{rate: 5, bogus: 1}"}, "$.default.rate_limit.bogus"),
        ({"SEAWALL_DEFAULT__NOPE": "1"}, "$.default.nope"),
        ({"SEAWALL_SERVER__DRAIN_DELAY": ".inf"}, "$.server.drain_delay"),
    ],
)
def test_bad_sub_policy_fails_at_load(env: dict[str, str], path: str) -> None:
    """Every policy value is checked (finite, in range) when the config loads, naming the leaf field."""
    with pytest.raises(ConfigError) as info:
        config.load(SeawallConfig, environ=env)
    assert info.value.path == path
