"""``seawall run``: serve an ASGI target with granian (default) or uvicorn, draining on SIGTERM.

Shutdown sequence on SIGTERM (Kubernetes-friendly): every worker gets SIGUSR1 and its
``/readyz`` turns 503 at once while requests are still served; after ``drain_delay`` the
listener closes and in-flight requests get ``grace_period`` to finish; then exit 0.
SIGINT (Ctrl-C) skips the drain delay. Only the server's own worker processes are signalled,
never processes a handler started.

Before anything starts, :func:`check_options` validates every value (naming the flag or config
key at fault) and :func:`resolve_bind` resolves the host and makes sure nothing already listens
on the port: a second ``seawall run`` on a port in use is refused ("address in use") unless
``reuse_port`` asks for the port to be shared (granian's workers bind with ``SO_REUSEPORT``,
so two servers would otherwise silently split the traffic).

Connection limits (granian): ``backlog`` pending connections per listening socket,
``backpressure`` connections per worker (idle ones count), and ``header_timeout``: a connection
that has not sent a complete request head within it is closed, whether it is new or idle between
keep-alive requests (hyper's ``header_read_timeout``). Serving HTTP/1.1 only (the default) is
what makes the timeout apply to a connection that never sends a byte: with ``http="auto"``
hyper-util's protocol detection waits without a timer (hyperium/hyper#3454 and
anthropics/connect-rust#312 describe the gap).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import ipaddress
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Final, Literal

from seawall.errors import ConfigError

if TYPE_CHECKING:
    from seawall.http._config import SeawallConfig

__all__ = [
    "DEFAULT_BACKLOG",
    "DEFAULT_HEADER_TIMEOUT",
    "RunOptions",
    "check_options",
    "check_target",
    "resolve_bind",
    "serve",
]

#: Pending connections per listening socket. Linux silently caps it at net.core.somaxconn
#: (4096 by default since kernel 5.4); granian's own default is 1024.
DEFAULT_BACKLOG: Final = 4096
#: Seconds a connection may take to send a complete request head, and may stay idle between
#: keep-alive requests. uvicorn closes idle keep-alive connections after 5 s, gunicorn after 2 s;
#: behind a load balancer that keeps connections open longer (AWS ALB: 60 s), set it above the
#: balancer's idle timeout so the balancer never reuses a connection the server is closing.
DEFAULT_HEADER_TIMEOUT: Final = 10.0

_MAX_WORKERS: Final = 1024
_MAX_SECONDS: Final = 3600.0
_MAX_BACKPRESSURE: Final = 1_000_000
# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
_LABEL: Final = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything ``seawall run`` needs, merged from flags, config file and defaults."""

    target: str
    host: str
    port: int
    workers: int
    server: str
    drain_delay: float
    grace_period: float
    backlog: int = DEFAULT_BACKLOG
    #: Connections per worker; ``None``: granian's ``backlog // workers``.
    backpressure: int | None = None
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    reuse_port: bool = False
    http: Literal["1", "auto"] = "1"


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
    return True


def _seconds(value: float, *, minimum: float = 0.0) -> str | None:
    if not (math.isfinite(value) and minimum <= value <= _MAX_SECONDS):
        return f"must be a number of seconds from {minimum:g} to {_MAX_SECONDS:g}, not {value!r}"
    return None


def _problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the option ``name`` (None if nothing)."""
    if name == "port":
        return None if 1 <= value <= 65535 else f"must be a port number from 1 to 65535, not {value}"
    if name == "host":
        return None if _valid_host(value) else f"must be an IP address or a host name, not {value!r}"
    if name == "workers":
        return None if 1 <= value <= _MAX_WORKERS else f"must be from 1 to {_MAX_WORKERS}, not {value}"
    if name in ("drain_delay", "grace_period"):
        return _seconds(value)
    if name == "header_timeout":
        return _seconds(value, minimum=0.001)
    if name == "backlog":
        return None if 1 <= value <= 65535 else f"must be from 1 to 65535, not {value}"
    if name == "backpressure":
        ok = value is None or 1 <= value <= _MAX_BACKPRESSURE
        return None if ok else f"must be from 1 to {_MAX_BACKPRESSURE}, not {value}"
    if name == "server":
        return None if value in ("granian", "uvicorn") else f"must be granian or uvicorn, not {value!r}"
    if name == "http":
        return None if value in ("1", "auto") else f"must be 1 or auto, not {value!r}"
    return None


def check_options(options: RunOptions, names: Mapping[str, str] | None = None) -> None:
    """Validate every option, raising ``ValueError("<name> <problem>")`` for the first bad one.

    ``names`` says how to call each field in the message (``{"port": "--port"}`` for a flag,
    ``"server.port"`` for a config key); a field not in it is called ``--<field-with-dashes>``.
    """
    names = names or {}
    for f in fields(options):
        problem = _problem(f.name, getattr(options, f.name))
        if problem is not None:
            raise ValueError(f"{names.get(f.name, '--' + f.name.replace('_', '-'))} {problem}")
    if options.reuse_port and options.server != "granian":
        raise ValueError("--reuse-port needs --server granian")


def resolve_bind(host: str, port: int, *, reuse_port: bool = False) -> str:
    """The IP address to bind for ``host``, after checking that ``port`` is free on it.

    Raises ``OSError`` with a one-line message when the host does not resolve, or when something
    already listens on the port (``"address in use"``) unless ``reuse_port``. The check binds a
    probe socket (``SO_REUSEADDR``, so connections of a stopped server in TIME_WAIT do not count;
    no ``SO_REUSEPORT``, so a listener that shares the port does) and closes it: a server that
    takes the port between the check and the start is not detected.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    ip = str(address[0])
    if reuse_port:
        return ip
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(
                    f"address in use: {host}:{port} already has a listener "
                    "(stop it, pick another --port, or pass --reuse-port to share the port)"
                ) from None
            raise OSError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    return ip


def _raise_open_files_limit() -> None:
    # Every connection is a file descriptor; the soft limit is often 1024 while the hard one is
    # far higher. Go does the same for every program (src/os/rlimit.go, since Go 1.19).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def check_target(target: str, config: SeawallConfig) -> None:
    """Import ``target`` and, if it is a :class:`~seawall.http.Service`, apply ``config`` to it.

    Run by ``seawall run`` before any worker starts, so that an unknown route key, a limit that
    cannot compile (``backend: redis`` without ``redis_url``, an unregistered ``fn:`` key) or any
    other error of the effective configuration ends it with one line and exit 2, instead of a
    traceback in every worker. The import happens in a forked child: granian forks its workers
    from this process, and they must import the service themselves, afresh.

    Raises:
        ConfigError: the configuration does not fit the service (naming the field).
        ImportError: the target cannot be loaded.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: import, configure, report, and leave without cleanup handlers
        os.close(read)
        message = b""
        try:
            _configure_target(target, config)
        except ConfigError as exc:
            message = b"C" + json.dumps([exc.message, exc.path, exc.source]).encode()
        except Exception as exc:  # noqa: BLE001 - reported to the parent as "cannot load"
            message = b"I" + f"{type(exc).__name__}: {exc}".encode()
        os.write(write, message)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    if message.startswith(b"C"):
        text, path, source = json.loads(message[1:])
        raise ConfigError(text, path=path, source=source)
    if message.startswith(b"I"):
        raise ImportError(message[1:].decode())


def _configure_target(target: str, config: SeawallConfig) -> None:
    from seawall.http import Service

    module_name, _, attr = target.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    app = getattr(importlib.import_module(module_name), attr or "app")
    if isinstance(app, Service):
        app.configure(config)


def serve(options: RunOptions) -> int:
    """Serve until stopped; returns the process exit code."""
    from seawall.http._service import METRICS_DIR_ENV  # not at import: `seawall --help` stays light

    sys.path.insert(0, os.getcwd())  # `seawall run examples.hello:service` from the project root
    _raise_open_files_limit()
    metrics_dir = tempfile.mkdtemp(prefix="seawall-metrics-")
    os.environ[METRICS_DIR_ENV] = metrics_dir
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))
    try:
        if options.server == "uvicorn":
            return _serve_uvicorn(options)
        return _serve_granian(options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve_granian(options: RunOptions) -> int:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    class DrainingGranian(Granian):  # type: ignore[misc,valid-type]
        draining = False

        def signal_handler_interrupt(self, signum: int | None = None, *args: Any, **kwargs: Any) -> None:
            if signum == signal.SIGTERM and not self.draining and options.drain_delay > 0:
                self.draining = True
                self.signal_workers(signal.SIGUSR1)
                timer = threading.Timer(options.drain_delay, super().signal_handler_interrupt)
                timer.daemon = True
                timer.start()
                return
            super().signal_handler_interrupt()

        def signal_workers(self, sig: int) -> None:
            # Only granian's worker processes: a handler's own subprocesses must not get the
            # drain signal (SIGUSR1 would kill them).
            for worker in list(self.wrks):
                pid = worker.inner.pid
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)

    server = DrainingGranian(
        options.target,
        address=options.host,
        port=options.port,
        interface=Interfaces.ASGI,
        workers=options.workers,
        http=HTTPModes.http1 if options.http == "1" else HTTPModes.auto,
        websockets=False,
        backlog=options.backlog,
        backpressure=options.backpressure,
        http1_settings=HTTP1Settings(header_read_timeout=max(1, round(options.header_timeout * 1000))),
        workers_kill_timeout=max(1, round(options.grace_period)),
        log_access=False,
    )
    server.serve()
    return 0


def _serve_uvicorn(options: RunOptions) -> int:
    try:
        import uvicorn
    except ImportError:
        print("--server uvicorn needs uvicorn: pip install 'seawall[uvicorn]'", file=sys.stderr)
        return 2

    if options.workers > 1:  # uvicorn's own supervisor; draining is granian-only for now
        uvicorn.run(
            options.target,
            host=options.host,
            port=options.port,
            workers=options.workers,
            backlog=options.backlog,
            timeout_graceful_shutdown=round(options.grace_period),
            log_level="warning",
        )
        return 0

    class DrainingServer(uvicorn.Server):
        draining = False

        def handle_exit(self, sig: int, frame: Any) -> None:
            if sig == signal.SIGTERM and not self.draining and options.drain_delay > 0:
                self.draining = True
                os.kill(os.getpid(), signal.SIGUSR1)
                timer = threading.Timer(options.drain_delay, super().handle_exit, (sig, frame))
                timer.daemon = True
                timer.start()
                return
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        options.target,
        host=options.host,
        port=options.port,
        lifespan="on",
        backlog=options.backlog,
        timeout_graceful_shutdown=round(options.grace_period),
        log_level="warning",
    )
    DrainingServer(config).run()
    return 0
