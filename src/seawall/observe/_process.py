"""The process's resource use (CPU time, RSS, file descriptors) and its container's limits.

:class:`ProcessReader` reads a :class:`ProcessSample` with psutil; :func:`read_cgroup_memory_limit`
is the memory companion of :func:`seawall.load.read_cgroup_cpu_limit`. Both are read at scrape
time only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, final

import psutil

__all__ = ["ProcessReader", "ProcessSample", "cpu_count", "read_cgroup_memory_limit"]

#: cgroup v1 writes a page-aligned LONG_MAX for "no memory limit"; anything this large is none.
_UNLIMITED_MEMORY: Final = 1 << 62


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """This process's resource use at one moment.

    Attributes:
        cpu_seconds: user + system CPU time consumed.
        resident_bytes: resident set size.
        open_fds: open file descriptors (``None`` where the platform has none).
        max_fds: the soft limit on open file descriptors (``None`` if unknown or unlimited).
    """

    cpu_seconds: float
    resident_bytes: int
    open_fds: int | None
    max_fds: int | None


@final
class ProcessReader:
    """Reads a :class:`ProcessSample` of the current process with psutil (one ``oneshot()``).

    On Linux a read opens ``/proc/self/stat``, ``statm`` and lists ``/proc/self/fd``: tens of
    microseconds, once per scrape. The psutil handle is rebuilt after a fork.
    """

    __slots__ = ("_pid", "_process")

    def __init__(self) -> None:
        self._pid = -1
        self._process: psutil.Process | None = None

    def __call__(self) -> ProcessSample | None:
        pid = os.getpid()
        if self._process is None or self._pid != pid:
            self._process, self._pid = psutil.Process(pid), pid
        proc = self._process
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                rss = proc.memory_info().rss
                fds = proc.num_fds() if hasattr(proc, "num_fds") else None
        except psutil.Error:
            return None
        return ProcessSample(times.user + times.system, rss, fds, _max_fds())

    def __repr__(self) -> str:
        return "ProcessReader()"


def _max_fds() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _memory_bytes(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:  # "max" (v2 no limit) or garbage
        return None
    if value <= 0 or value >= _UNLIMITED_MEMORY:
        return None
    return value


def read_cgroup_memory_limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The memory limit, in bytes, that the cgroup at ``root`` imposes; ``None`` when unlimited.

    Reads cgroup v2 ``memory.max`` (``"max"`` is no limit); without it, cgroup v1
    ``memory.limit_in_bytes`` in ``root`` or ``root/memory`` (v1 writes a page-aligned LONG_MAX,
    about 9.2e18, for no limit; any value of 2**62 or more counts as none). Missing or malformed
    files count as no limit. The companion of :func:`seawall.load.read_cgroup_cpu_limit`.
    """
    v2 = _read_text(root / "memory.max")
    if v2 is not None:
        return _memory_bytes(v2)
    for d in (root, root / "memory"):
        v1 = _read_text(d / "memory.limit_in_bytes")
        if v1 is not None:
            return _memory_bytes(v1)
    return None


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1
