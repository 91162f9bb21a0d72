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
    tracing:            # OpenTelemetry (the otel extra); absent: no tracing
      sample_ratio: 0.05
      otlp_endpoint: http://otel-collector:4318/v1/traces
    logging:
      access_sample_rate: 0.01
      slow_request_threshold: 0.5
    admin:              # /_seawall/debug/: loopback only unless a token is set
      token: change-me  # or $SEAWALL_ADMIN_TOKEN

Policies are decoded section by section (:func:`seawall.governance.decode_patch`), so a
section a check registered is accepted and an unknown or invalid field fails at load naming its
leaf (``$.routes["GET /hello"].rate_limit.rate``).

A :class:`~seawall.http.Service` never reads configuration on its own: ``seawall run`` passes the
file it found (``--config``, ``$SEAWALL_CONFIG``, ``./seawall.yaml``) to its workers through
``$SEAWALL_CONFIG``, and other servers call ``service.configure(...)`` or set that variable.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

from seawall import config
from seawall.governance import RuleLayer, decode_patch

__all__ = [
    "CONFIG_ENV",
    "AdminConfig",
    "LoggingConfig",
    "SeawallConfig",
    "ServerConfig",
    "TracingConfig",
    "file_layer",
    "find_config",
    "load_config",
]

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


_Ratio = Annotated[float, msgspec.Meta(ge=0, le=1)]


class TracingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """OpenTelemetry tracing (the ``otel`` extra); the section's presence turns it on.

    Attributes:
        sample_ratio: the probability that a request without a sampling decision from its caller
            (no valid ``traceparent``) is traced; callers' decisions are followed.
        otlp_endpoint: where spans are sent with OTLP over HTTP
            (``http://otel-collector:4318/v1/traces``); ``None`` keeps them in the process.
    """

    sample_ratio: _Ratio = 0.01
    otlp_endpoint: str | None = None


class LoggingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Logs: their format, the sampled access log, the slow-request log, what is never logged.

    Attributes:
        format: ``json`` or ``console`` (``seawall run --log-format`` wins); ``None`` leaves the
            logging setup alone.
        level: the root level (``seawall run --log-level`` wins).
        access_sample_rate: the share of requests logged on ``seawall.access`` (5xx always); 0 off.
        slow_request_threshold: seconds at or above which a request is logged on ``seawall.slow``;
            ``None`` off.
        secret_fields: more field names whose values are never logged, beside the built-in ones
            (passwords, tokens, API keys, authorization, cookies...).
    """

    format: Literal["json", "console"] | None = None
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    access_sample_rate: _Ratio = 0.0
    slow_request_threshold: Annotated[float, msgspec.Meta(gt=0, le=86_400)] | None = None
    secret_fields: list[str] = msgspec.field(default_factory=list)


class AdminConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Who may use ``/_seawall/`` (debug endpoints): loopback clients, or holders of the token.

    Attributes:
        token: the admin token (``Authorization: Bearer <token>``); without one only loopback
            clients are allowed. ``$SEAWALL_ADMIN_TOKEN`` sets it too.
        trusted_proxies: addresses or networks of reverse proxies whose ``X-Forwarded-For`` is
            believed; without them the header is never trusted.
    """

    token: str | None = None
    trusted_proxies: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy.strip(), strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {proxy!r} is not an IP address or network") from None


class SeawallConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole ``seawall.yaml``; ``default`` and ``routes`` hold validated policy patches."""

    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    redis_url: str | None = None
    tracing: TracingConfig | None = None
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    admin: AdminConfig = msgspec.field(default_factory=AdminConfig)
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
