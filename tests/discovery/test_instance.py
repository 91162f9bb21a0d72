"""Tests for seawall.discovery.Instance."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.discovery import Instance


def test_address_is_host_colon_port() -> None:
    """An IPv4 or DNS host is written host:port."""
    assert Instance("10.0.0.1", 8080).address == "10.0.0.1:8080"
    assert Instance("inventory", 80).address == "inventory:80"


def test_ipv6_address_is_bracketed() -> None:
    """An IPv6 host is written [host]:port."""
    assert Instance("::1", 8080).address == "[::1]:8080"
    assert str(Instance("fe80::1", 443)) == "[fe80::1]:443"


def test_defaults() -> None:
    """Weight 1, no zone, empty metadata."""
    instance = Instance("a", 1)
    assert (instance.weight, instance.zone, dict(instance.metadata)) == (1, None, {})


def test_is_frozen() -> None:
    """Fields cannot be reassigned."""
    instance = Instance("a", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        instance.port = 2  # type: ignore[misc]


def test_metadata_is_frozen_and_hashable() -> None:
    """Metadata given as a dict is copied into an immutable mapping, so the instance hashes."""
    labels = {"version": "v2"}
    instance = Instance("a", 1, metadata=labels)
    labels["version"] = "v3"
    assert instance.metadata["version"] == "v2"
    assert hash(instance) == hash(Instance("a", 1, metadata={"version": "v2"}))
    with pytest.raises(TypeError):
        instance.metadata["version"] = "v4"  # type: ignore[index]


def test_equality_covers_every_field() -> None:
    """Instances differing in weight, zone or metadata are different targets."""
    base = Instance("a", 1)
    assert base == Instance("a", 1)
    assert base != Instance("a", 1, weight=2)
    assert base != Instance("a", 1, zone="z1")
    assert base != Instance("a", 1, metadata={"k": "v"})
    assert len({base, Instance("a", 1), Instance("a", 2)}) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "", "port": 1}, "host must be a non-empty str"),
        ({"host": "[::1]", "port": 1}, "host must be a bare name or address"),
        ({"host": "a b", "port": 1}, "host must be a bare name or address"),
        ({"host": "a", "port": 0}, r"port must be an int in \[1, 65535\]"),
        ({"host": "a", "port": 65536}, r"port must be an int in \[1, 65535\]"),
        ({"host": "a", "port": True}, r"port must be an int in \[1, 65535\]"),
        ({"host": "a", "port": 1, "weight": 0}, "weight must be an int >= 1"),
        ({"host": "a", "port": 1, "weight": 1.5}, "weight must be an int >= 1"),
        ({"host": "a", "port": 1, "zone": ""}, "zone must be None or a non-empty str"),
    ],
)
def test_invalid_fields_are_rejected(kwargs: dict[str, object], message: str) -> None:
    """Construction checks every field with a precise message."""
    with pytest.raises(ValueError, match=message):
        Instance(**kwargs)  # type: ignore[arg-type]


def test_metadata_must_be_strings() -> None:
    """Non-str metadata keys or values are refused."""
    with pytest.raises(TypeError, match="metadata keys and values must be str"):
        Instance("a", 1, metadata={"k": 1})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("10.0.0.1:8080", "10.0.0.1", 8080),
        ("inventory.default.svc:80", "inventory.default.svc", 80),
        ("[::1]:8080", "::1", 8080),
        ("[2001:db8::1]:443", "2001:db8::1", 443),
        ("  a:1  ", "a", 1),
    ],
)
def test_parse(text: str, host: str, port: int) -> None:
    """parse reads host:port and [v6]:port."""
    assert Instance.parse(text) == Instance(host, port)


def test_parse_default_port() -> None:
    """Without a port, default_port is used; a bare IPv6 address is then the host."""
    assert Instance.parse("inventory", default_port=80) == Instance("inventory", 80)
    assert Instance.parse("[::1]", default_port=80) == Instance("::1", 80)
    assert Instance.parse("2001:db8::1:8080", default_port=80) == Instance("2001:db8::1:8080", 80)


def test_parse_passes_attributes() -> None:
    """weight, zone and metadata given to parse land on the instance."""
    instance = Instance.parse("a:1", weight=3, zone="z", metadata={"k": "v"})
    assert instance == Instance("a", 1, weight=3, zone="z", metadata={"k": "v"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        ("http://a:80", "not a URL"),
        ("a", "missing port"),
        ("a:http", "port must be a number"),
        ("a:-1", "port must be a number"),
        ("a:99999", r"port must be an int in \[1, 65535\]"),
        ("::1:8080", "must be bracketed"),
        ("[::1", "unclosed"),
        ("[a]:80", "only IPv6 addresses go in brackets"),
        ("[::1]8080", "expected ':port'"),
        ("a:b:c", "not host:port"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    """parse explains what is wrong with a malformed address."""
    with pytest.raises(ValueError, match=message):
        Instance.parse(text)


_hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True),
    st.ip_addresses().map(str),
)


@given(host=_hosts, port=st.integers(min_value=1, max_value=65535))
def test_parse_inverts_address(host: str, port: int) -> None:
    """parse(address) gives back the same instance, for names, IPv4 and IPv6."""
    instance = Instance(host, port)
    assert Instance.parse(instance.address) == instance
