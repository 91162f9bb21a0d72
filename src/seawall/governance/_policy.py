"""Policies: the governance configuration of one route or dependency, made of open *sections*.

Each check owns one or more sections (``rate_limit``, ``max_conns``, ``breaker``...) and registers
them with :func:`define_section`: a YAML key, a type msgspec can validate, and a default. A
:class:`Policy` is an immutable mapping from section names to values, so a new check adds its
configuration without touching any core structure, and the same policy comes from code
(``Policy(timeout=1.0, rate_limit=RateLimitPolicy(rate=100))``), from ``seawall.yaml`` and from the
rules API. Decoding errors name the leaf field (``$.routes["GET /x"].rate_limit.rate``).

This module holds no runtime state besides the section table, which is filled at import time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Annotated, Any, Final, Generic, TypeVar, final

import msgspec

from seawall.errors import ConfigError

__all__ = [
    "METRICS",
    "TIMEOUT",
    "Policy",
    "Section",
    "decode_patch",
    "define_section",
    "sections",
    "validate_struct",
]

T = TypeVar("T")

#: Upper bound of any count-like setting (limits, bursts, queue sizes): beyond it is a typo.
MAX_COUNT: Final = 1_000_000_000
#: Upper bound of any duration setting, in seconds (a day).
MAX_SECONDS: Final = 86_400.0

_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]*)`")
_AT_PATH = re.compile(r" - at `\$([^`]*)`$")
_NAMED_FIELD = re.compile(r"^([a-z_][a-z0-9_]*) must ")


@final
class Section(Generic[T]):
    """One named part of a policy: its key, its type and its default.

    Use :func:`define_section` to create one; read it with ``policy[SECTION]``.
    """

    __slots__ = ("default", "doc", "name", "type")

    def __init__(self, name: str, tp: Any, default: T, doc: str) -> None:
        self.name = name
        self.type = tp
        self.default = default
        self.doc = doc

    def convert(self, value: Any, *, strict: bool) -> T:
        """Validate ``value`` against the section's type (raises ``msgspec.ValidationError``)."""
        converted: T = msgspec.convert(value, self.type, strict=strict)
        return converted

    def __repr__(self) -> str:
        return f"Section({self.name!r})"


_SECTIONS: dict[str, Section[Any]] = {}


def define_section(name: str, tp: Any, default: T, doc: str = "") -> Section[T]:
    """Register a policy section (once per name; re-registering the same type returns it).

    Args:
        name: the key in code (``Policy(name=...)``) and in YAML.
        tp: a type msgspec validates (a frozen ``msgspec.Struct``, ``int | None``, a tuple...).
        default: the value of a policy that does not set it (usually ``None``: the check is off).
        doc: one line for the configuration reference.

    Raises:
        ValueError: ``name`` is taken by a section of another type.
    """
    if not name.isidentifier():
        raise ValueError(f"section name must be an identifier, not {name!r}")
    existing = _SECTIONS.get(name)
    if existing is not None:
        if existing.type != tp:
            raise ValueError(f"policy section {name!r} is already defined with another type")
        return existing
    section: Section[T] = Section(name, tp, default, doc)
    _SECTIONS[name] = section
    return section


def sections() -> Mapping[str, Section[Any]]:
    """Every registered section, by name."""
    return dict(_SECTIONS)


PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_SECONDS)]

#: Seconds the handler (or call) may run before it is cancelled with 504 ``DEADLINE_EXCEEDED``;
#: ``None`` for no limit of its own (an incoming deadline header still applies).
TIMEOUT: Final[Section[float | None]] = define_section(
    "timeout", PositiveSeconds | None, 10.0, "handler deadline in seconds (504 beyond)"
)
#: Whether calls are counted in ``/metrics``.
METRICS: Final[Section[bool]] = define_section("metrics", bool, default=True, doc="count calls in /metrics")


@final
class Policy:
    """The governance of one route (or dependency): an immutable set of section values.

    Sections not given take their registered default. Any registered section is a keyword
    argument, and readable as an attribute or with ``policy[SECTION]``.

    Example::

        Policy(timeout=2.0, max_conns=500, rate_limit=RateLimitPolicy(rate=100, key="ip"))

    Raises:
        TypeError: a keyword names no registered section.
        ValueError: a value is invalid for its section (the message names it).
    """

    __slots__ = ("_values",)
    _values: dict[str, Any]

    def __init__(self, **values: Any) -> None:
        checked: dict[str, Any] = {}
        for name, value in values.items():
            section = _SECTIONS.get(name)
            if section is None:
                raise TypeError(f"unknown policy section {name!r} (known: {', '.join(sorted(_SECTIONS))})")
            try:
                checked[name] = section.convert(value, strict=True)
            except msgspec.ValidationError as exc:
                raise ValueError(_readable(name, str(exc))) from None
        object.__setattr__(self, "_values", checked)

    @classmethod
    def _of(cls, values: dict[str, Any]) -> Policy:
        policy = cls.__new__(cls)
        object.__setattr__(policy, "_values", values)
        return policy

    def __getitem__(self, section: Section[T]) -> T:
        value: T = self._values.get(section.name, section.default)
        return value

    def get(self, name: str) -> Any:
        """The value of the section called ``name`` (its default when not set)."""
        if name in self._values:
            return self._values[name]
        section = _SECTIONS.get(name)
        if section is None:
            raise KeyError(name)
        return section.default

    def __getattr__(self, name: str) -> Any:
        try:
            return self.get(name)
        except KeyError:
            raise AttributeError(f"Policy has no section {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Policy is immutable; use replace() or merge()")

    def explicit(self) -> Mapping[str, Any]:
        """The sections this policy sets itself (not defaults)."""
        return dict(self._values)

    def replace(self, **values: Any) -> Policy:
        """A copy with ``values`` set (validated like the constructor)."""
        return self.merge(Policy(**values)._values)

    def merge(self, patch: Mapping[str, Any]) -> Policy:
        """A copy with already validated section values from ``patch`` (see :func:`decode_patch`)."""
        return Policy._of({**self._values, **patch})

    def to_builtins(self) -> dict[str, Any]:
        """Every section's effective value as plain data (for listing rules and the dashboard)."""
        out: dict[str, Any] = msgspec.to_builtins({name: self.get(name) for name in sorted(_SECTIONS)})
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(_SECTIONS))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return all(self.get(n) == other.get(n) for n in _SECTIONS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in sorted(self._values.items()))
        return f"Policy({inner})"


_EXPECTED_BOUND = re.compile(r"^Expected `\w+` (>=|<=|>|<) ([^ ]+)$")


def _readable(name: str, message: str) -> str:
    """``"timeout must be > 0"`` from msgspec's ``"Expected `float` > 0.0"`` (else ``"name: message"``)."""
    match = _AT_PATH.search(message)
    if match:
        name += match.group(1).replace("[...]", "")
        message = _AT_PATH.sub("", message)
    bound = _EXPECTED_BOUND.match(message)
    if bound:
        return f"{name} must be {bound.group(1)} {float(bound.group(2)):g}"
    return f"{name}: {message}"


def _leaf(path: str, exc: msgspec.ValidationError) -> tuple[str, str]:
    """``(message, path)`` of a msgspec error inside a section decoded at ``path``."""
    message = str(exc)
    match = _AT_PATH.search(message)
    if match:
        path += match.group(1).replace("[...]", "")
        message = _AT_PATH.sub("", message)
    missing = _MISSING_FIELD.search(message)
    if missing:
        return message, f"{path}.{missing.group(1)}"
    if match:
        return message, path
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        return message, f"{path}.{unknown.group(1)}"
    named = _NAMED_FIELD.match(message)  # "rate must be > 0" from a __post_init__ names its field
    return message, f"{path}.{named.group(1)}" if named else path


def decode_patch(data: Any, path: str = "$") -> dict[str, Any]:
    """Validate configuration data for a policy; returns the section values it sets.

    Args:
        data: a mapping from section names to plain values (decoded YAML/TOML/JSON).
        path: where ``data`` sits in the configuration, for error messages.

    Raises:
        ConfigError: naming the leaf field, e.g. ``$.routes["GET /x"].rate_limit.rate``.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping of policy sections, got {type(data).__name__}", path=path)
    out: dict[str, Any] = {}
    for name, value in data.items():
        section = _SECTIONS.get(name) if isinstance(name, str) else None
        if section is None:
            raise ConfigError(f"unknown policy field {name!r}", path=f"{path}.{name}")
        try:
            out[name] = section.convert(value, strict=False)
        except msgspec.ValidationError as exc:
            message, where = _leaf(f"{path}.{name}", exc)
            raise ConfigError(message, path=where) from None
    return out


@cache
def _constraints(cls: type) -> tuple[tuple[str, Any], ...]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    out = []
    for field in info.fields:
        options = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
        numeric = [t for t in options if isinstance(t, msgspec.inspect.IntType | msgspec.inspect.FloatType)]
        if len(numeric) == 1:
            out.append((field.name, numeric[0]))
    return tuple(out)


def validate_struct(obj: msgspec.Struct) -> None:
    """Check ``obj``'s numeric fields against their ``msgspec.Meta`` bounds (and finiteness).

    msgspec checks those bounds when decoding but not when a Struct is built in code; a section
    Struct calls this from ``__post_init__`` so that both ways in fail the same way, naming the field.

    Raises:
        ValueError: ``"<field> must be > 0"`` and the like.
    """
    for name, tp in _constraints(type(obj)):
        value = getattr(obj, name)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name} must be finite")
        for op, bound in (("gt", tp.gt), ("ge", tp.ge), ("lt", tp.lt), ("le", tp.le)):
            if bound is None:
                continue
            ok = {"gt": value > bound, "ge": value >= bound, "lt": value < bound, "le": value <= bound}[op]
            if not ok:
                sign = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[op]
                raise ValueError(f"{name} must be {sign} {bound:g}")
