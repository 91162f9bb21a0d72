"""``seawall run``'s option checks and bind probe, in-process (no server started)."""

from __future__ import annotations

import math
import socket
from dataclasses import replace
from typing import Any

import pytest

from seawall.cli._run import DEFAULT_BACKLOG, DEFAULT_HEADER_TIMEOUT, RunOptions, check_options, resolve_bind

GOOD = RunOptions(
    target="examples.hello:service",
    host="127.0.0.1",
    port=8000,
    workers=1,
    server="granian",
    drain_delay=2.0,
    grace_period=30.0,
)


def test_defaults_are_sane() -> None:
    """The defaults pass the checks, with a backlog above granian's 1024 and a 10 s header timeout."""
    check_options(GOOD)
    assert GOOD.backlog == DEFAULT_BACKLOG >= 2048
    assert GOOD.header_timeout == DEFAULT_HEADER_TIMEOUT == 10.0
    assert (GOOD.reuse_port, GOOD.http, GOOD.backpressure) == (False, "1", None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": 0}, "--port must be a port number from 1 to 65535, not 0"),
        ({"port": 65536}, "--port must be a port number from 1 to 65535"),
        ({"host": "not a host"}, "--host must be an IP address or a host name"),
        ({"host": "-leading.example"}, "--host must be"),
        ({"host": "a" * 64 + ".example"}, "--host must be"),
        ({"host": ""}, "--host must be"),
        ({"workers": 0}, "--workers must be from 1"),
        ({"workers": 100_000}, "--workers must be from 1"),
        ({"server": "gunicorn"}, "--server must be granian or uvicorn"),
        ({"drain_delay": -1.0}, "--drain-delay must be a number of seconds from 0"),
        ({"drain_delay": math.inf}, "--drain-delay must be"),
        ({"grace_period": math.nan}, "--grace-period must be"),
        ({"grace_period": 1e307}, "--grace-period must be"),
        ({"header_timeout": 0.0}, "--header-timeout must be a number of seconds from 0.001"),
        ({"header_timeout": -1.0}, "--header-timeout must be"),
        ({"backlog": 0}, "--backlog must be from 1 to 65535"),
        ({"backpressure": 0}, "--backpressure must be from 1"),
        ({"http": "2"}, "--http must be 1 or auto"),
        ({"server": "uvicorn", "reuse_port": True}, "--reuse-port needs --server granian"),
    ],
)
def test_bad_values_are_named(change: dict[str, Any], message: str) -> None:
    """Each bad value raises a ValueError that names the flag and says what is allowed."""
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        check_options(replace(GOOD, **change))


def test_config_values_are_named_by_their_key() -> None:
    """``names`` renames a field in the message (a config key instead of a flag)."""
    with pytest.raises(ValueError, match=r"^server\.port must be"):
        check_options(replace(GOOD, port=0), {"port": "server.port"})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "::1", "localhost", "my-host.internal", "example.com."])
def test_hosts_accepted(host: str) -> None:
    """IP addresses (v4 and v6) and RFC 1123 host names pass the syntax check."""
    check_options(replace(GOOD, host=host))


def test_free_port_resolves_to_an_ip(free_port: int) -> None:
    """A host name resolves to the IP granian binds (granian takes IP addresses only)."""
    assert resolve_bind("localhost", free_port) in ("127.0.0.1", "::1")
    assert resolve_bind("127.0.0.1", free_port) == "127.0.0.1"


def test_listening_port_is_in_use(free_port: int) -> None:
    """A port with a listener is refused with "address in use" (unless sharing is asked for)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port))
        listener.listen()
        with pytest.raises(OSError, match=r"^address in use: 127\.0\.0\.1:"):
            resolve_bind("127.0.0.1", free_port)
        with pytest.raises(OSError, match="address in use"):
            resolve_bind("0.0.0.0", free_port)  # the wildcard overlaps it
        assert resolve_bind("127.0.0.1", free_port, reuse_port=True) == "127.0.0.1"


def test_time_wait_connections_do_not_count(free_port: int) -> None:
    """Connections a stopped server left in TIME_WAIT do not make its port look in use."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as granian's listener
        listener.bind(("127.0.0.1", free_port))
        listener.listen()
        client = socket.create_connection(("127.0.0.1", free_port))
        accepted, _ = listener.accept()
        accepted.close()  # the server side closes first: it is the one left in TIME_WAIT
        client.close()
    assert resolve_bind("127.0.0.1", free_port) == "127.0.0.1"


def test_unresolvable_host_is_one_line() -> None:
    """A host name that does not resolve is an OSError saying so."""
    with pytest.raises(OSError, match=r"^cannot resolve host 'no-such-host\.invalid'"):
        resolve_bind("no-such-host.invalid", 8000)
