"""The CPU signal for adaptive shedding: a probe protocol, a fixed probe, and this process's usage.

The smoothing follows go-zero's ``core/stat/usage.go`` (a 250 ms refresh, EWMA with beta 0.95)
and Kratos/aegis ``ratelimit/bbr/bbr.go`` (``cpu = cpu' * decay + sample * (1 - decay)``); the
quota reading follows go-zero's ``core/stat/internal/cgroup_linux.go`` (cgroup v2 ``cpu.max``,
v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol, final, runtime_checkable

from seawall._clock import MONOTONIC, Clock

__all__ = ["CpuProbe", "FixedCpuProbe", "ProcessCpuProbe", "read_cgroup_cpu_limit"]

#: Full usage in permille.
CPU_MAX: Final = 1000


@runtime_checkable
class CpuProbe(Protocol):
    """A CPU load signal in permille (0..1000) of the CPU this process may use.

    :meth:`usage` is called on every shedding decision, so it must be cheap: an attribute read,
    never a system call.
    """

    def usage(self) -> int:
        """The current load in permille, 0..1000."""
        ...


def _check_permille(value: int) -> int:
    if not 0 <= value <= CPU_MAX:
        raise ValueError(f"usage must be in [0, {CPU_MAX}], got {value!r}")
    return value


@final
class FixedCpuProbe:
    """A probe that reports whatever it is told: for tests, and to force a signal.

    Example::

        cpu = FixedCpuProbe(200)
        shedder = AdaptiveShedder(cpu=cpu, clock=clock)
        cpu.value = 950  # now overloaded
    """

    __slots__ = ("_value",)

    def __init__(self, value: int = 0) -> None:
        self._value = _check_permille(value)

    @property
    def value(self) -> int:
        """The reported usage; assign to change it."""
        return self._value

    @value.setter
    def value(self, value: int) -> None:
        self._value = _check_permille(value)

    def usage(self) -> int:
        return self._value

    def __repr__(self) -> str:
        return f"FixedCpuProbe({self._value!r})"


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _quota(quota: str | None, period: str | None) -> float | None:
    if quota is None or period is None:
        return None
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    if q <= 0 or p <= 0:  # v1 writes -1 for "no limit"
        return None
    return q / p


def read_cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota, in cores, that the cgroup at ``root`` imposes; ``None`` when unlimited.

    Reads cgroup v2 ``cpu.max`` (``"50000 100000"`` is half a core, ``"max 100000"`` is no limit);
    without it, cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` in ``root``,
    ``root/cpu`` or ``root/cpu,cpuacct`` (a quota of ``-1`` is no limit). Missing or malformed
    files count as no limit. Inside a container ``/sys/fs/cgroup`` is the container's own cgroup.
    """
    cpu_max = _read_text(root / "cpu.max")
    if cpu_max is not None:
        parts = cpu_max.split()
        if len(parts) == 2 and parts[0] != "max":
            return _quota(parts[0], parts[1])
        return None
    for d in (root, root / "cpu", root / "cpu,cpuacct"):
        quota = _read_text(d / "cpu.cfs_quota_us")
        if quota is not None:
            return _quota(quota, _read_text(d / "cpu.cfs_period_us"))
    return None


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


@final
class ProcessCpuProbe:
    """This process's CPU usage as a share of what it may use, sampled in a background thread.

    The cap is ``min(max_cores, cgroup quota, CPUs available)``; ``max_cores=1`` fits a
    single-threaded Python worker, which cannot use more than one core however many the machine
    has. Every ``interval`` seconds a daemon thread reads this process's CPU seconds, turns the
    delta into permille of the cap and folds it into an EWMA (``decay`` is the weight of the old
    value, go-zero's beta). :meth:`usage` only reads the last result, so the hot path makes no
    system call; the thread holds the GIL only for a few arithmetic operations per interval.

    Args:
        interval: seconds between samples (> 0).
        decay: EWMA weight of the previous value, in [0, 1).
        rise: the weight used instead when a sample is above the average (default: ``decay``). A
            smaller value makes the signal rise faster than it falls, so overload is seen within a
            sample or two while a single idle sample does not end it.
        max_cores: the most cores this process can keep busy (> 0).
        clock: the time source for the sample deltas.
        read_cpu_seconds: this process's consumed CPU seconds (default :func:`time.process_time`).
        cgroup_root: where to read the cgroup CPU quota.
        cpu_count: CPUs available to the process (default: its affinity mask).

    Example::

        with ProcessCpuProbe() as cpu:
            shedder = AdaptiveShedder(cpu=cpu)
            ...
    """

    __slots__ = (
        "_clock",
        "_cores",
        "_decay",
        "_ewma",
        "_interval",
        "_last_cpu",
        "_last_now",
        "_lock",
        "_read_cpu",
        "_rise",
        "_stop",
        "_thread",
        "_usage",
    )

    def __init__(
        self,
        *,
        interval: float = 0.25,
        decay: float = 0.95,
        rise: float | None = None,
        max_cores: float = 1.0,
        clock: Clock = MONOTONIC,
        read_cpu_seconds: Callable[[], float] = time.process_time,
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        cpu_count: int | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError("interval must be > 0")
        if not 0 <= decay < 1:
            raise ValueError("decay must be in [0, 1)")
        if rise is not None and not 0 <= rise < 1:
            raise ValueError("rise must be in [0, 1)")
        self._rise = decay if rise is None else rise
        if not max_cores > 0:
            raise ValueError("max_cores must be > 0")
        if cpu_count is not None and cpu_count < 1:
            raise ValueError("cpu_count must be >= 1")
        cores = min(max_cores, float(cpu_count if cpu_count is not None else _cpu_count()))
        quota = read_cgroup_cpu_limit(cgroup_root)
        if quota is not None:
            cores = min(cores, quota)
        self._cores = cores
        self._interval = interval
        self._decay = decay
        self._clock = clock
        self._read_cpu = read_cpu_seconds
        self._last_now = clock.now()
        self._last_cpu = read_cpu_seconds()
        self._ewma = 0.0
        self._usage = 0
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def cores(self) -> float:
        """The CPU capacity, in cores, that 1000 permille stands for."""
        return self._cores

    def usage(self) -> int:
        return self._usage

    def sample(self) -> int:
        """Take one sample now, fold it into the average, and return the new usage.

        The background thread calls this every ``interval``; tests call it directly.
        """
        now = self._clock.now()
        cpu = self._read_cpu()
        elapsed = now - self._last_now
        if elapsed <= 0:
            return self._usage
        raw = (cpu - self._last_cpu) / elapsed / self._cores * CPU_MAX
        self._last_now, self._last_cpu = now, cpu
        raw = min(max(raw, 0.0), float(CPU_MAX))
        weight = self._rise if raw > self._ewma else self._decay
        self._ewma = self._ewma * weight + raw * (1.0 - weight)
        # One reference store: the event loop reads it without a lock.
        self._usage = round(self._ewma)
        return self._usage

    def start(self) -> None:
        """Start the sampling thread (no-op if it is running)."""
        with self._lock:
            if self._thread is not None:
                return
            stop = threading.Event()
            thread = threading.Thread(target=self._run, args=(stop,), name="seawall-cpu-probe", daemon=True)
            self._stop, self._thread = stop, thread
            thread.start()

    def stop(self) -> None:
        """Stop the sampling thread and wait for it (no-op if it is not running)."""
        with self._lock:
            stop, thread = self._stop, self._thread
            self._stop = self._thread = None
        if stop is not None and thread is not None:
            stop.set()
            thread.join()

    @property
    def running(self) -> bool:
        """Whether the sampling thread is running."""
        return self._thread is not None

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self._interval):
            self.sample()

    def __enter__(self) -> ProcessCpuProbe:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ProcessCpuProbe(usage={self._usage!r}, cores={self._cores!r}, running={self.running!r})"
