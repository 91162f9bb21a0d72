"""A service's standing telemetry: runtime metrics with their lifecycle, and build info.

:class:`RuntimeMonitor` is what a :class:`~seawall.http.Service` holds: it owns the
:class:`~seawall.observe.GcMonitor`, the :class:`~seawall.observe.LoopLagSampler` and the
:class:`~seawall.observe.RuntimeCollector`, and with ``seawall run --workers N`` the
:class:`~seawall.observe.RuntimeDir` where workers share snapshots. It costs nothing per request:
a GC callback per collection, one timer wake-up per sampling interval, and work at scrape time.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final, final

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from seawall._clock import MONOTONIC, Clock
from seawall.observe._gc import GcMonitor
from seawall.observe._loop_lag import LoopLagSampler
from seawall.observe._runtime import RuntimeCollector
from seawall.observe._runtime_dir import RuntimeDir

__all__ = ["SERVER_ENV", "BuildInfoCollector", "RuntimeMonitor"]

#: Set by ``seawall run`` to the ASGI server it starts (``granian``, ``uvicorn``).
SERVER_ENV: Final = "SEAWALL_ASGI_SERVER"
_KNOWN_SERVERS: Final = ("granian", "uvicorn", "hypercorn", "daphne")


@final
class RuntimeMonitor:
    """Runtime metrics of one service process, started and stopped with the service.

    Args:
        metrics_dir: the directory ``seawall run`` shares between workers
            (``$SEAWALL_METRICS_DIR``); runtime snapshots go to its ``runtime/`` subdirectory.
            ``None`` for a single process (``worker="0"``).
        clock: the time source of GC pauses and loop lag. It measures the real process, so it
            should be the real clock even when the service runs on a test clock.
        lag_interval: seconds between event-loop lag samples.

    Example::

        monitor = RuntimeMonitor(metrics_dir=os.environ.get("SEAWALL_METRICS_DIR"))
        registry.register(monitor.collector)
        monitor.start()        # in the running loop, after the worker process started
        ...
        await monitor.stop()
    """

    __slots__ = ("collector", "gc", "loop_lag", "shared_dir")

    def __init__(
        self,
        *,
        metrics_dir: str | os.PathLike[str] | None = None,
        clock: Clock = MONOTONIC,
        lag_interval: float = 0.1,
    ) -> None:
        self.gc = GcMonitor(clock=clock)
        self.loop_lag = LoopLagSampler(interval=lag_interval, clock=clock)
        self.shared_dir = RuntimeDir(Path(metrics_dir) / "runtime") if metrics_dir else None
        self.collector = RuntimeCollector(
            gc_monitor=self.gc, loop_lag=self.loop_lag, shared_dir=self.shared_dir
        )

    @property
    def worker(self) -> int:
        """This process's worker index (0 until :meth:`start` claims one)."""
        return self.collector.worker

    def start(self) -> None:
        """Claim a worker index (with a shared directory), hook GC and start sampling the loop.

        Call it in the worker process, inside its running loop (a service's startup).
        """
        if self.shared_dir is not None:
            self.collector.worker = self.shared_dir.claim()
        self.gc.install()
        self.loop_lag.start()

    def flush(self) -> None:
        """Publish this worker's snapshot for the others (no-op for a single process)."""
        self.collector.flush()

    async def stop(self) -> None:
        """Stop sampling, unhook GC, give the worker index up."""
        await self.loop_lag.stop()
        self.gc.uninstall()
        if self.shared_dir is not None:
            self.shared_dir.release()

    def __repr__(self) -> str:
        return f"RuntimeMonitor(worker={self.worker!r}, shared={self.shared_dir is not None!r})"


def _server() -> str:
    named = os.environ.get(SERVER_ENV)
    if named:
        return named
    return next((name for name in _KNOWN_SERVERS if name in sys.modules), "unknown")


@final
class BuildInfoCollector(Collector):
    """``seawall_build_info{version,python,server} 1``: which seawall, Python and ASGI server run.

    ``version`` defaults to seawall's own.

    ``server`` is what ``seawall run`` started (``$SEAWALL_ASGI_SERVER``), else the first known
    server module loaded in the process, else ``unknown``. Join on it to break other series down
    by version: ``... * on(job, instance) group_left(version) seawall_build_info``.
    """

    def __init__(self, *, version: str | None = None) -> None:
        self._version = version
        self._python = platform.python_version()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "seawall_build_info",
            "Always 1; the labels say which seawall version, Python and ASGI server serve. "
            "Per process; do not sum.",
            labels=["version", "python", "server"],
        )
        version = self._version
        if version is None:
            from seawall import __version__

            version = __version__
        family.add_metric([version, self._python, _server()], 1)
        yield family
