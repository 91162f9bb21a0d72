"""``seawall run``: serve an ASGI target with granian (default) or uvicorn, draining on SIGTERM.

Shutdown sequence on SIGTERM (Kubernetes-friendly): every worker gets SIGUSR1 and its
``/readyz`` turns 503 at once while requests are still served; after ``drain_delay`` the
listener closes and in-flight requests get ``grace_period`` to finish; then exit 0.
SIGINT (Ctrl-C) skips the drain delay.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

import psutil

from seawall.http._service import METRICS_DIR_ENV

__all__ = ["RunOptions", "serve"]


@dataclass(frozen=True, slots=True)
class RunOptions:
    target: str
    host: str
    port: int
    workers: int
    server: str
    drain_delay: float
    grace_period: float


def _signal_workers(sig: int) -> None:
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child.send_signal(sig)


def serve(options: RunOptions) -> int:
    """Serve until stopped; returns the process exit code."""
    sys.path.insert(0, os.getcwd())  # `seawall run examples.hello:service` from the project root
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
    from granian.constants import Interfaces

    class DrainingGranian(Granian):  # type: ignore[misc,valid-type]
        draining = False

        def signal_handler_interrupt(self, signum: int | None = None, *args: Any, **kwargs: Any) -> None:
            if signum == signal.SIGTERM and not self.draining and options.drain_delay > 0:
                self.draining = True
                _signal_workers(signal.SIGUSR1)
                timer = threading.Timer(options.drain_delay, super().signal_handler_interrupt)
                timer.daemon = True
                timer.start()
                return
            super().signal_handler_interrupt()

    server = DrainingGranian(
        options.target,
        address=options.host,
        port=options.port,
        interface=Interfaces.ASGI,
        workers=options.workers,
        websockets=False,
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
        timeout_graceful_shutdown=round(options.grace_period),
        log_level="warning",
    )
    DrainingServer(config).run()
    return 0
