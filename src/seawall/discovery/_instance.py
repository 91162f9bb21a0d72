"""One instance of a service: where a call can go, and what a balancer may know about it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, final

__all__ = ["Instance"]


@final
class _FrozenMap(Mapping[str, str]):
    """An immutable, hashable ``str -> str`` mapping (metadata must not break ``Instance``'s hash)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        data = dict(items)
        for key, value in data.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("metadata keys and values must be str")
        self._data = data
        self._hash = hash(frozenset(data.items()))

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return repr(self._data)


_NO_METADATA: Final = _FrozenMap()


@final
@dataclass(frozen=True, slots=True)
class Instance:
    """One reachable copy of a service: ``host:port`` plus what balancers and renderers may use.

    Instances are immutable and hashable values (two equal instances are the same target), so
    they can key balancer state and sit in the ``exclude`` sets passed to ``Balancer.pick``.

    Attributes:
        host: a DNS name, an IPv4 address or a bare IPv6 address (no brackets).
        port: 1..65535.
        weight: relative share of traffic for weighted balancers (>= 1).
        zone: an optional locality label (availability zone, rack).
        metadata: free-form ``str -> str`` labels (version, canary, ...), frozen on creation.

    Example::

        Instance("10.0.0.1", 8080)
        Instance.parse("[::1]:8080", weight=2)
    """

    host: str
    port: int
    weight: int = 1
    zone: str | None = None
    metadata: Mapping[str, str] = field(default=_NO_METADATA)

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ValueError("host must be a non-empty str")
        if self.host.startswith("[") or any(c.isspace() or c in "/[]" for c in self.host):
            raise ValueError(f"host must be a bare name or address, got {self.host!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ValueError("port must be an int in [1, 65535]")
        if isinstance(self.weight, bool) or not isinstance(self.weight, int) or self.weight < 1:
            raise ValueError("weight must be an int >= 1")
        if self.zone is not None and (not isinstance(self.zone, str) or not self.zone):
            raise ValueError("zone must be None or a non-empty str")
        if not isinstance(self.metadata, _FrozenMap):
            object.__setattr__(self, "metadata", _FrozenMap(self.metadata))

    @property
    def address(self) -> str:
        """``host:port``, with an IPv6 host in brackets (``[::1]:8080``)."""
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.address

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        default_port: int | None = None,
        weight: int = 1,
        zone: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Instance:
        """Read ``host:port`` (``[v6]:port`` for IPv6); the port may be left out if ``default_port`` is given.

        Raises:
            ValueError: the text is not an address (a URL, an unbracketed IPv6 address with a
                port, a bad port), naming what is wrong.
        """
        text = text.strip()
        if not text:
            raise ValueError("an instance address must not be empty")
        if "/" in text:
            raise ValueError(f"an instance address is host:port, not a URL: {text!r}")
        port_text: str | None
        if text.startswith("["):
            end = text.find("]")
            if end < 0:
                raise ValueError(f"unclosed '[' in {text!r}")
            host, rest = text[1:end], text[end + 1 :]
            if ":" not in host:
                raise ValueError(f"only IPv6 addresses go in brackets: {text!r}")
            if rest and not rest.startswith(":"):
                raise ValueError(f"expected ':port' after ']' in {text!r}")
            port_text = rest[1:] if rest else None
        elif text.count(":") > 1:
            # A bare IPv6 address (no port: "2001:db8::1:8080" is itself an address).
            try:
                ipaddress.IPv6Address(text.split("%", 1)[0])
            except ValueError:
                raise ValueError(f"not host:port: {text!r}") from None
            if default_port is None:
                raise ValueError(f"an IPv6 address with a port must be bracketed: [{text}]:port")
            host, port_text = text, None
        else:
            host, sep, port_text_ = text.partition(":")
            port_text = port_text_ if sep else None
        if port_text is None:
            if default_port is None:
                raise ValueError(f"missing port in {text!r}")
            port = default_port
        elif port_text.isascii() and port_text.isdigit():
            port = int(port_text)
        else:
            raise ValueError(f"port must be a number in {text!r}")
        return cls(host, port, weight, zone, _FrozenMap(metadata) if metadata else _NO_METADATA)


def _sort_key(instance: Instance) -> tuple[str, int, int, str, tuple[tuple[str, str], ...]]:
    return (
        instance.host,
        instance.port,
        instance.weight,
        instance.zone or "",
        tuple(sorted(instance.metadata.items())),
    )


def normalize(instances: Iterable[Instance]) -> tuple[Instance, ...]:
    """Deduplicated and in a stable order (host, port, then the rest), so sets compare as tuples."""
    unique = set(instances)
    for instance in unique:
        if not isinstance(instance, Instance):
            raise TypeError(f"expected Instance, got {type(instance).__name__}")
    return tuple(sorted(unique, key=_sort_key))
