"""Typed configuration: ``seawall.yaml`` / TOML files plus ``SEAWALL_SECTION__KEY`` overrides.

:func:`load` decodes a file into any msgspec ``Struct`` type, applies environment overrides and
validates the result, raising :class:`~seawall.errors.ConfigError` that names the bad field's path
(``$.server.port``) so a broken deployment fails at start, not on the first request.
This module knows nothing of the schema; the schema lives beside what it configures.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec

from seawall.errors import ConfigError

__all__ = ["ENV_PREFIX", "apply_env", "load", "read_file"]

T = TypeVar("T")

#: Environment variables with this prefix override config values: ``SEAWALL_SERVER__PORT=9000``.
ENV_PREFIX: Final = "SEAWALL_"

_PATH_IN_MESSAGE = re.compile(r" - at `(\$[^`]*)`$")


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file into plain data."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", source=str(p)) from exc
    try:
        if p.suffix == ".toml":
            data = msgspec.toml.decode(raw)
        elif p.suffix in (".yaml", ".yml"):
            data = msgspec.yaml.decode(raw)
        else:
            raise ConfigError("config file must end in .yaml, .yml or .toml", source=str(p))
    except msgspec.DecodeError as exc:
        raise ConfigError(f"cannot parse config file: {exc}", source=str(p)) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("config file must hold a mapping at the top level", source=str(p))
    return data


def apply_env(data: dict[str, Any], environ: Mapping[str, str], prefix: str = ENV_PREFIX) -> dict[str, Any]:
    """Return ``data`` with ``PREFIX_SECTION__KEY=value`` overrides merged in.

    Keys are lower-cased; ``__`` separates nesting levels, and a leading ``__`` addresses a top-level
    key (``SEAWALL__REDIS_URL``), since ``SEAWALL_<NAME>`` without ``__`` is left to seawall itself.
    Values are parsed as YAML scalars (``9000`` -> int, ``true`` -> bool, ``[a, b]`` -> list) and
    then validated by the schema.
    """
    out: dict[str, Any] = dict(data)
    for name, value in sorted(environ.items()):
        if not name.startswith(prefix) or "__" not in name:
            continue
        rest = name[len(prefix) :]
        if rest.startswith("_"):  # SEAWALL__REDIS_URL: a top-level key (no section)
            rest = rest[1:]
        parts = [part.lower() for part in rest.split("__")]
        if not all(parts):
            continue
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        try:
            node[parts[-1]] = msgspec.yaml.decode(value.encode()) if value else ""
        except msgspec.DecodeError:
            node[parts[-1]] = value
    return out


def load(
    schema: type[T],
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Load ``schema`` from ``path`` (optional) and the environment, validating every field.

    Raises:
        ConfigError: the file is unreadable or a field is invalid; ``.path`` names the field.
    """
    data = read_file(path) if path is not None else {}
    data = apply_env(data, os.environ if environ is None else environ)
    try:
        return msgspec.convert(data, schema, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH_IN_MESSAGE.search(message)
        field = match.group(1) if match else "$"
        message = _PATH_IN_MESSAGE.sub("", message)
        raise ConfigError(message, path=field, source=str(path) if path else None) from exc
    except ConfigError as exc:  # raised by the schema's own validation (e.g. policy sections)
        if exc.source is None and path:
            raise ConfigError(exc.message, path=exc.path, source=str(path)) from None
        raise
