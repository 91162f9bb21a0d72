"""The service's configuration schema (``seawall.yaml``), loaded only when asked for.

Example ``seawall.yaml``::

    server:
      port: 8080
      workers: 2
    default:            # overrides sections of the default policy (routes without their own)
      timeout: 2.0
    routes:
      "GET /hello":     # or just "/hello" for every method; overrides only the sections given
        max_conns: 500

Policies are decoded section by section (:func:`seawall.governance.decode_patch`), so a
section a check registered is accepted and an unknown or invalid field fails at load naming its
leaf (``$.routes["GET /hello"].rate_limit.rate``).

A :class:`~seawall.http.Service` never reads configuration on its own: ``seawall run`` passes the
file it found (``--config``, ``$SEAWALL_CONFIG``, ``./seawall.yaml``) to its workers through
``$SEAWALL_CONFIG``, and other servers call ``service.configure(...)`` or set that variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

from seawall import config
from seawall.governance import RuleLayer, decode_patch

__all__ = ["CONFIG_ENV", "SeawallConfig", "ServerConfig", "file_layer", "find_config", "load_config"]

#: The config file a service loads at startup (set by ``seawall run``); empty: environment only.
CONFIG_ENV: Final = "SEAWALL_CONFIG"
DEFAULT_FILES: Final = ("seawall.yaml", "seawall.yml", "seawall.toml")

_Seconds = Annotated[float, msgspec.Meta(ge=0, le=86_400)]


class ServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How ``seawall run`` serves the service.

    Attributes:
        drain_delay: on SIGTERM, seconds to keep serving with ``/readyz`` at 503 before closing
            the listener (lets load balancers and Kubernetes endpoints notice).
        grace_period: after the listener closes, seconds in-flight requests get to finish.
    """

    # Constraints as msgspec Meta so that an error names the field itself ($.server.port).
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    workers: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 1
    server: Literal["granian", "uvicorn"] = "granian"
    drain_delay: _Seconds = 2.0
    grace_period: _Seconds = 30.0
    #: Pending connections per listening socket.
    backlog: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 4096
    #: Open connections per worker, idle ones included (granian); ``None``: backlog / workers.
    backpressure: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    #: Seconds a connection gets to send a request head, and may idle between requests (granian).
    header_timeout: Annotated[float, msgspec.Meta(ge=0.001, le=3600)] = 10.0
    #: Share the port with servers already listening on it (SO_REUSEPORT) instead of refusing.
    reuse_port: bool = False
    #: ``"1"``: HTTP/1.1 only; ``"auto"``: also h2c (then silent connections are never closed).
    http: Literal["1", "auto"] = "1"


class SeawallConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole ``seawall.yaml``; ``default`` and ``routes`` hold validated policy patches."""

    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    redis_url: str | None = None
    default: dict[str, Any] | None = None
    routes: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        # Decode the policies here so that any way of building the config validates them.
        force = msgspec.structs.force_setattr
        force(self, "default", decode_patch(self.default, "$.default") if self.default else None)
        force(
            self,
            "routes",
            {key: decode_patch(value, f"$.routes[{_quote(key)}]") for key, value in self.routes.items()},
        )


def _quote(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file ``seawall run`` uses: ``explicit``, ``$SEAWALL_CONFIG`` or ``./seawall.yaml``."""
    if explicit is not None:
        return Path(explicit)
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    return next((Path(f) for f in DEFAULT_FILES if Path(f).is_file()), None)


def load_config(path: str | os.PathLike[str] | None = None) -> SeawallConfig:
    """Load and validate ``path`` (``None``: no file) with ``SEAWALL_*`` overrides.

    Raises:
        ConfigError: naming the bad field.
    """
    return config.load(SeawallConfig, path)


def file_layer(cfg: SeawallConfig) -> RuleLayer:
    """The file layer of rules a configuration declares."""
    return RuleLayer(cfg.default, dict(cfg.routes))
