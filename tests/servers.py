"""Real server binaries for integration tests: start on a free loopback port, wait, tear down.

Each server is a small :class:`ServerProcess` subclass naming its binary, its command line and a
readiness check; the base class finds the binary, picks a port, launches, waits until ready and
stops it (``stop()`` / ``restart()`` on the same port let tests simulate outages).

A missing binary skips the test with a reason saying so, unless the ``CI`` environment variable
is set, where it fails instead: CI must never silently run without its integration tests.

Usage::

    from tests.servers import start_redis

    @pytest.fixture
    def redis_server() -> Iterator[RedisServer]:
        with start_redis() as server:
            yield server

To add a server (etcd, prometheus), subclass :class:`ServerProcess`, set ``binary``, implement
``command()`` and ``is_ready()``, and add a ``start_<name>()`` helper.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

import pytest

__all__ = ["RedisServer", "ServerProcess", "free_port", "server_fixture", "start_redis"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is not None:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} not found on PATH, and CI is set: integration tests must run in CI")
    pytest.skip(f"{name} not found on PATH (skipped because the CI environment variable is unset)")


class ServerProcess:
    """A server binary run as a child process on a loopback port for the length of a test.

    Subclasses set :attr:`binary` and implement :meth:`command` and :meth:`is_ready`.
    """

    #: The executable's name, looked up on ``PATH``.
    binary: ClassVar[str]

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None, start_timeout: float = 10.0):
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.start_timeout = start_timeout
        self.path = _require_binary(self.binary)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"seawall-{self.binary}-"))
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The full command line (``self.path`` first)."""
        raise NotImplementedError

    def is_ready(self) -> bool:
        """One readiness check; True once the server answers."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Self:
        """Launch the server and wait until :meth:`is_ready` (or fail with its output)."""
        if self.running:
            return self
        log = (self.workdir / "server.log").open("ab")
        try:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.binary} exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError):
                if self.is_ready():
                    return self
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"{self.binary} not ready after {self.start_timeout}s:\n{self.log()}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGKILL when ``kill``, else SIGTERM then SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> Self:
        """Stop and start again on the same port."""
        self.stop()
        return self.start()

    def log(self) -> str:
        """What the server printed so far."""
        try:
            return (self.workdir / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the server and remove its working directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class RedisServer(ServerProcess):
    """``redis-server`` without persistence, bound to loopback."""

    binary = "redis-server"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.path,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
        ]  # fmt: skip

    def is_ready(self) -> bool:
        return self.call("PING") == "+PONG"

    def call(self, *args: str) -> str:
        """Send one command over a fresh connection (RESP) and return the raw first reply line,
        or, for a bulk string, its payload. Enough for PING / INFO / FLUSHALL without a client."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection((self.host, self.port), timeout=2) as sock:
            sock.sendall(payload.encode())
            reader = sock.makefile("rb")
            line = reader.readline().decode().rstrip("\r\n")
            if line.startswith("$") and line != "$-1":
                return reader.read(int(line[1:]) + 2)[:-2].decode()
            return line


def start_redis(**kwargs: Any) -> RedisServer:
    """A :class:`RedisServer` on a free port; use as ``with start_redis() as server:``."""
    return RedisServer(**kwargs)


def server_fixture(
    factory: Callable[[], ServerProcess],
    *,
    name: str,
    scope: Literal["function", "class", "module", "package", "session"] = "function",
) -> Any:
    """Make a pytest fixture named ``name`` that runs ``factory()``'s server around each test.

    Example (in a test module)::

        redis_server = server_fixture(start_redis, name="redis_server")
    """

    def fixture() -> Iterator[ServerProcess]:
        with factory() as server:
            yield server

    return pytest.fixture(fixture, name=name, scope=scope)
