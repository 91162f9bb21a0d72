"""The service's configuration schema (``seawall.yaml``), and applying it to a :class:`Service`.

Example ``seawall.yaml``::

    server:
      port: 8080
      workers: 2
    default:            # the policy of routes that set none in code
      timeout: 2.0
    routes:
      "GET /hello":     # or just "/hello" for every method
        max_conns: 500
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, Literal

import msgspec

from seawall import config
from seawall.http._policy import Policy

if TYPE_CHECKING:
    from seawall.http._service import Service

__all__ = ["CONFIG_ENV", "SeawallConfig", "ServerConfig", "find_config", "load_config"]

#: Set by ``seawall run --config``: the config file every worker loads.
CONFIG_ENV: Final = "SEAWALL_CONFIG"
DEFAULT_FILES: Final = ("seawall.yaml", "seawall.yml", "seawall.toml")


class ServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How ``seawall run`` serves the service.

    Attributes:
        drain_delay: on SIGTERM, seconds to keep serving with ``/readyz`` at 503 before closing
            the listener (lets load balancers and Kubernetes endpoints notice).
        grace_period: after the listener closes, seconds in-flight requests get to finish.
    """

    # Constraints as msgspec Meta so that an error names the field itself ($.server.port).
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    workers: Annotated[int, msgspec.Meta(ge=1)] = 1
    server: Literal["granian", "uvicorn"] = "granian"
    drain_delay: Annotated[float, msgspec.Meta(ge=0)] = 2.0
    grace_period: Annotated[float, msgspec.Meta(ge=0)] = 30.0


class SeawallConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole ``seawall.yaml``."""

    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    redis_url: str | None = None
    default: Policy | None = None
    routes: dict[str, Policy] = msgspec.field(default_factory=dict)


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to use: ``explicit``, else ``$SEAWALL_CONFIG``, else ``./seawall.yaml``."""
    if explicit is not None:
        return Path(explicit)
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    return next((Path(f) for f in DEFAULT_FILES if Path(f).is_file()), None)


def load_config(path: str | os.PathLike[str] | None = None) -> SeawallConfig:
    """Load and validate the configuration (raises :class:`~seawall.errors.ConfigError`)."""
    return config.load(SeawallConfig, find_config(path))


def apply_config(service: Service, cfg: SeawallConfig) -> None:
    """Recompile ``service``'s chains with the configured default and per-route policies."""
    service.recompile(cfg.routes, default=cfg.default)
