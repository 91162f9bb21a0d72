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
    dependencies:       # services this one calls (Service.client("inventory"), seawall graph)
      inventory:
        instances: ["10.0.0.1:8080", "10.0.0.2:8080"]   # or dns: {host: ..., port: ...}
        timeout: 1.0
        retries: {max_attempts: 2}
        breaker: {kind: adaptive}

Policies are decoded section by section (:func:`seawall.governance.decode_patch`), so a
section a check registered is accepted and an unknown or invalid field fails at load naming its
leaf (``$.routes["GET /hello"].rate_limit.rate``).

A :class:`~seawall.http.Service` never reads configuration on its own: ``seawall run`` passes the
file it found (``--config``, ``$SEAWALL_CONFIG``, ``./seawall.yaml``) to its workers through
``$SEAWALL_CONFIG``, and other servers call ``service.configure(...)`` or set that variable.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

from seawall import config
from seawall.discovery import Instance
from seawall.errors import ConfigError
from seawall.governance import BreakerPolicy, BulkheadPolicy, RuleLayer, check_key_spec, decode_patch
from seawall.governance._policy import _leaf
from seawall.retry import RetryPolicy

__all__ = [
    "CONFIG_ENV",
    "AdminConfig",
    "DNSConfig",
    "DependencyConfig",
    "LoggingConfig",
    "OutlierPolicy",
    "SeawallConfig",
    "ServerConfig",
    "TracingConfig",
    "decode_dependency",
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


# -- dependencies: the services this one calls ------------------------------------------------

_PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
_Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]
#: A dependency's name: what calls use as the URL host (``http://inventory/...``).
_NAME_PATTERN: Final = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,126}[A-Za-z0-9])?$"


class DNSConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Instances from the A/AAAA records of ``host`` (see :class:`~seawall.discovery.DNSResolver`)."""

    host: Annotated[str, msgspec.Meta(min_length=1)]
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)]
    refresh: _PositiveSeconds = 30.0
    timeout: _PositiveSeconds = 5.0


class OutlierPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Outlier ejection of a dependency's instances (:class:`~seawall.discovery.OutlierDetector`,
    Envoy's consecutive-failure detector; its defaults)."""

    consecutive_failures: _Count = 5
    base_ejection_time: _PositiveSeconds = 30.0
    max_ejection_time: _PositiveSeconds | None = None
    max_ejection_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 10.0
    always_eject_one: bool = True
    interval: _PositiveSeconds = 10.0
    max_ejection_jitter: _Seconds = 0.0

    def __post_init__(self) -> None:
        if self.max_ejection_time is not None and self.max_ejection_time < self.base_ejection_time:
            raise ValueError("max_ejection_time must be >= base_ejection_time")


class DependencyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One entry of ``dependencies:``: where a dependency runs and how calls to it are governed.

    Attributes:
        service: the called service's own name, when it differs from the dependency's name (the
            call chain and ``seawall graph`` use service names).
        instances: ``host:port`` addresses; or ``dns`` (not both).
        dns: resolve the instances from DNS A/AAAA records, refreshed.
        scheme: ``http`` or ``https``.
        balancer: ``p2c`` (p2c-EWMA, the default), ``round_robin`` or ``consistent_hash``.
        hash_key: for ``consistent_hash``: the key spec of a call's key (``header:x-user-id``,
            ``query:id``); a call may also pass ``extensions={"seawall.key": ...}``.
        timeout: seconds a whole call may take, retries included (the caller's own remaining
            deadline also applies); ``null`` for none.
        attempt_timeout: seconds one attempt may take; ``null``: what is left of the call's.
        retries: the retry policy (:class:`~seawall.retry.RetryPolicy` fields); ``null``: never retry.
        breaker: the circuit breaker (adaptive by default); ``null``: none.
        bulkhead: bounded concurrent calls with a bounded wait queue; ``null``: none.
        max_conns: calls in flight beyond which calls are refused at once (503); ``null``: no limit.
        outlier: outlier ejection of instances; ``null``: none.
        deadline_margin: seconds taken off the deadline sent in ``X-Seawall-Deadline-Ms`` (the
            answer must travel back in time).
        max_connections: the connection pool's size (all of the dependency's instances).
    """

    service: Annotated[str, msgspec.Meta(pattern=_NAME_PATTERN)] | None = None
    instances: list[str] = msgspec.field(default_factory=list)
    dns: DNSConfig | None = None
    scheme: Literal["http", "https"] = "http"
    balancer: Literal["p2c", "round_robin", "consistent_hash"] = "p2c"
    hash_key: str | None = None
    timeout: _PositiveSeconds | None = 10.0
    attempt_timeout: _PositiveSeconds | None = None
    retries: RetryPolicy | None = RetryPolicy()
    breaker: BreakerPolicy | None = BreakerPolicy()
    bulkhead: BulkheadPolicy | None = None
    max_conns: _Count | None = None
    outlier: OutlierPolicy | None = OutlierPolicy()
    deadline_margin: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.005
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 100

    def __post_init__(self) -> None:
        if self.instances and self.dns is not None:
            raise ValueError("instances must not be given with dns (give one of them)")
        if self.hash_key is not None:
            check_key_spec(self.hash_key, "hash_key")
            if self.hash_key.partition(":")[0] not in ("header", "query"):
                raise ValueError("hash_key must be 'header:<name>' or 'query:<name>'")


_RETRY_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(RetryPolicy))
_MISSING: Final = object()


def decode_dependency(name: str, data: Any, path: str = "$") -> DependencyConfig:
    """Validate one ``dependencies:`` entry (plain data) named ``name``.

    Raises:
        ConfigError: naming the leaf field (``$.dependencies.inventory.retries.max_attempts``).
    """
    if not re.match(_NAME_PATTERN, name):
        raise ConfigError(f"dependency name {name!r} is not a valid host name", path=path)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping, got {type(data).__name__}", path=path)
    fields = dict(data)
    retries = fields.pop("retries", _MISSING)
    try:
        dep = msgspec.convert(fields, DependencyConfig, strict=False)
    except msgspec.ValidationError as exc:
        message, where = _leaf_field(path, exc)
        raise ConfigError(message, path=where) from None
    for i, address in enumerate(dep.instances):
        try:
            Instance.parse(address)
        except ValueError as exc:
            raise ConfigError(str(exc), path=f"{path}.instances[{i}]") from None
    if retries is _MISSING:
        return dep
    return msgspec.structs.replace(dep, retries=_decode_retries(retries, f"{path}.retries"))


def _decode_retries(data: Any, path: str) -> RetryPolicy | None:
    if data is None or data is False:
        return None
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping of retry settings, got {type(data).__name__}", path=path)
    for key in data:
        if key not in _RETRY_FIELDS:
            raise ConfigError(f"unknown field {key!r}", path=f"{path}.{key}")
    try:
        return msgspec.convert(dict(data), RetryPolicy, strict=False)
    except msgspec.ValidationError as exc:
        message, where = _leaf_field(path, exc)
        raise ConfigError(message, path=where) from None


_NAMED: Final = re.compile(r"^([a-z_][a-z0-9_]*) must ")


def _leaf_field(path: str, exc: msgspec.ValidationError) -> tuple[str, str]:
    """``_leaf``, and the field a ``"<field> must ..."`` message from a nested ``__post_init__`` names."""
    message, where = _leaf(path, exc)
    named = _NAMED.match(message)
    if named and not where.endswith(f".{named.group(1)}"):
        where = f"{where}.{named.group(1)}"
    return message, where


# -- the file ------------------------------------------------------------------------------------


class SeawallConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole ``seawall.yaml``; ``default`` and ``routes`` hold validated policy patches,
    ``dependencies`` validated :class:`DependencyConfig` values by name."""

    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    redis_url: str | None = None
    tracing: TracingConfig | None = None
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    admin: AdminConfig = msgspec.field(default_factory=AdminConfig)
    default: dict[str, Any] | None = None
    routes: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    # Plain data until __post_init__ turns each entry into a DependencyConfig (errors name the leaf).
    dependencies: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        # Decode the policies here so that any way of building the config validates them.
        force = msgspec.structs.force_setattr
        force(self, "default", decode_patch(self.default, "$.default") if self.default else None)
        force(
            self,
            "routes",
            {key: decode_patch(value, f"$.routes[{_quote(key)}]") for key, value in self.routes.items()},
        )
        force(
            self,
            "dependencies",
            {
                name: value
                if isinstance(value, DependencyConfig)
                else decode_dependency(str(name), value, f"$.dependencies.{name}")
                for name, value in self.dependencies.items()
            },
        )

    def dependency(self, name: str) -> DependencyConfig | None:
        """The configuration of dependency ``name``, if the file declares it."""
        dep: DependencyConfig | None = self.dependencies.get(name)
        return dep


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
