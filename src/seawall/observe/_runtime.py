"""Runtime metrics: garbage collection, threads, the event loop, the process, and its limits.

:class:`RuntimeCollector` is a prometheus_client ``Collector`` (no global registry): it reads
cheap counters at scrape time and costs nothing per request. Two parts keep state between
scrapes: :class:`GcMonitor` (a ``gc.callbacks`` hook timing each collection) and
:class:`LoopLagSampler` (a task that sleeps a fixed interval and records how late it wakes, the
asyncio analogue of Node's ``perf_hooks.monitorEventLoopDelay``).

With several worker processes a scrape reaches one of them; each worker therefore leaves its
snapshot in a shared :class:`RuntimeDir`, and the worker that answers exports every live worker's
series under a bounded ``worker`` label (an index claimed with a file lock, reused when a worker
is replaced; never the pid). What may be summed across workers is said in each family's help.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import math
import os
import sys
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, final

import msgspec
import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from seawall._clock import MONOTONIC, Clock
from seawall.load import read_cgroup_cpu_limit

if sys.platform != "win32":
    import fcntl

__all__ = [
    "GC_PAUSE_BUCKETS",
    "LOOP_LAG_BUCKETS",
    "GcMonitor",
    "GcStatistics",
    "GenerationSnapshot",
    "GenerationStatistics",
    "LoopLagSampler",
    "LoopLagStatistics",
    "ProcessReader",
    "ProcessSample",
    "RuntimeCollector",
    "RuntimeDir",
    "RuntimeSnapshot",
    "read_cgroup_memory_limit",
]

#: Upper bounds (seconds) of the GC pause histogram: young collections take tens of
#: microseconds, full collections of a large heap tens to hundreds of milliseconds.
GC_PAUSE_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
#: Upper bounds (seconds) of the event-loop lag histogram: an idle loop wakes within a fraction
#: of a millisecond; anything over 100 ms is a blocked loop that delays every request.
LOOP_LAG_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: CPython's generations (0 young .. 2 old); callbacks for any other number are ignored.
_GENERATIONS: Final = 3
#: cgroup v1 writes a page-aligned LONG_MAX for "no memory limit"; anything this large is none.
_UNLIMITED_MEMORY: Final = 1 << 62


def _check_buckets(buckets: Sequence[float]) -> tuple[float, ...]:
    bounds = tuple(float(b) for b in buckets)
    if not bounds:
        raise ValueError("buckets must not be empty")
    if not all(math.isfinite(b) and b > 0 for b in bounds):
        raise ValueError("buckets must be finite and > 0")
    if any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError("buckets must be strictly increasing")
    return bounds


# --- garbage collection -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GenerationStatistics:
    """One GC generation's counters since :meth:`GcMonitor.install`.

    Attributes:
        generation: 0 (young) to 2 (old).
        collections: collections of this generation.
        collected: objects the collections freed.
        uncollectable: objects found unreachable but not freeable (``gc.garbage``).
        pause_sum: seconds spent in the collections.
        pause_counts: collections per pause bucket (not cumulative); the last entry is ``+Inf``.
    """

    generation: int
    collections: int
    collected: int
    uncollectable: int
    pause_sum: float
    pause_counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class GcStatistics:
    """A snapshot of :class:`GcMonitor`: the pause bucket bounds and one entry per generation."""

    buckets: tuple[float, ...]
    generations: tuple[GenerationStatistics, ...]


@final
class GcMonitor:
    """Counts and times garbage collections through ``gc.callbacks``.

    Each collection calls :meth:`callback` twice (``"start"``, ``"stop"``); the monitor counts the
    collection and the objects it collected, and files the pause (the time between the two calls)
    in a histogram per generation. The cost is a few arithmetic operations per collection and none
    per request. Collections run in whichever thread allocates, one at a time (CPython holds a
    "collecting" flag), so no lock is needed.

    Args:
        clock: the time source for pauses.
        buckets: upper bounds (seconds) of the pause histogram, strictly increasing.

    Example::

        monitor = GcMonitor()
        monitor.install()
        ...
        monitor.statistics().generations[2].pause_sum
        monitor.uninstall()
    """

    __slots__ = ("_buckets", "_collected", "_collections", "_now", "_pause_counts", "_pause_sum", "_started")

    def __init__(self, *, clock: Clock = MONOTONIC, buckets: Sequence[float] = GC_PAUSE_BUCKETS) -> None:
        self._buckets = _check_buckets(buckets)
        self._now = clock.now
        self._started: float | None = None
        self._collections = [0] * _GENERATIONS
        self._collected = [[0, 0] for _ in range(_GENERATIONS)]  # collected, uncollectable
        self._pause_sum = [0.0] * _GENERATIONS
        self._pause_counts = [[0] * (len(self._buckets) + 1) for _ in range(_GENERATIONS)]

    @property
    def installed(self) -> bool:
        """Whether :meth:`callback` is in ``gc.callbacks``."""
        return self.callback in gc.callbacks

    def install(self) -> None:
        """Add :meth:`callback` to ``gc.callbacks`` (no-op if it is there)."""
        if not self.installed:
            gc.callbacks.append(self.callback)

    def uninstall(self) -> None:
        """Remove :meth:`callback` from ``gc.callbacks`` (no-op if it is not there)."""
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self.callback)
        self._started = None

    def callback(self, phase: str, info: Mapping[str, int]) -> None:
        """The ``gc.callbacks`` hook; tests call it directly with ``("start"|"stop", info)``."""
        if phase == "start":
            self._started = self._now()
            return
        started, self._started = self._started, None
        generation = info.get("generation", -1)
        if phase != "stop" or not 0 <= generation < _GENERATIONS:
            return
        self._collections[generation] += 1
        counts = self._collected[generation]
        counts[0] += info.get("collected", 0)
        counts[1] += info.get("uncollectable", 0)
        if started is not None:  # installed mid-collection: count it, but there is no pause
            pause = max(0.0, self._now() - started)
            self._pause_sum[generation] += pause
            self._pause_counts[generation][bisect_left(self._buckets, pause)] += 1

    def statistics(self) -> GcStatistics:
        """The counters so far."""
        return GcStatistics(
            self._buckets,
            tuple(
                GenerationStatistics(
                    g,
                    self._collections[g],
                    self._collected[g][0],
                    self._collected[g][1],
                    self._pause_sum[g],
                    tuple(self._pause_counts[g]),
                )
                for g in range(_GENERATIONS)
            ),
        )

    def __enter__(self) -> GcMonitor:
        self.install()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    def __repr__(self) -> str:
        return f"GcMonitor(collections={self._collections!r}, installed={self.installed!r})"


# --- event-loop lag -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoopLagStatistics:
    """A snapshot of :class:`LoopLagSampler`.

    Attributes:
        buckets: the histogram's upper bounds (seconds).
        counts: samples per bucket (not cumulative); the last entry is ``+Inf``.
        count: samples taken.
        sum: total lag (seconds) over all samples.
        last: the most recent sample's lag (seconds), 0 before the first.
    """

    buckets: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum: float
    last: float


@final
class LoopLagSampler:
    """Measures event-loop scheduling delay: how late a task wakes from a timed sleep.

    A background task sleeps ``interval`` seconds on the clock, then records
    ``now - (start + interval)``: the time the loop needed to get back to it, which every other
    callback and request on the loop also waited. A loop blocked by a 200 ms CPU burst is seen
    as lag of up to 200 ms by the sample whose timer fell due during the burst. One wake-up per
    ``interval`` (default 0.1 s: a few microseconds of CPU, 0.01-0.05 % of a core) keeps the cost
    negligible; shorter blocks than ``interval`` are seen with probability ``block / interval``.

    Follows Node's ``perf_hooks.monitorEventLoopDelay`` (a timer whose lateness is recorded in a
    histogram). The floor is the loop's timer granularity: asyncio's epoll selector rounds its
    timeout up to whole milliseconds, so an idle loop reads 0.5-1 ms; alert well above that
    (a p99 over 50-100 ms is a loop that something blocks).

    Args:
        interval: seconds between samples (> 0).
        clock: the time source and sleeper.
        buckets: upper bounds (seconds) of the lag histogram, strictly increasing.

    Example::

        sampler = LoopLagSampler()
        sampler.start()  # inside the running loop, e.g. in a startup hook
        ...
        await sampler.stop()
    """

    __slots__ = ("_buckets", "_clock", "_count", "_counts", "_interval", "_last", "_loop", "_sum", "_task")

    def __init__(
        self, *, interval: float = 0.1, clock: Clock = MONOTONIC, buckets: Sequence[float] = LOOP_LAG_BUCKETS
    ) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError("interval must be > 0 and finite")
        self._interval = interval
        self._clock = clock
        self._buckets = _check_buckets(buckets)
        self._counts = [0] * (len(self._buckets) + 1)
        self._count = 0
        self._sum = 0.0
        self._last = 0.0
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def interval(self) -> float:
        """Seconds between samples."""
        return self._interval

    @property
    def running(self) -> bool:
        """Whether the sampling task is running."""
        return self._task is not None and not self._task.done()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the sampler was last started on."""
        return self._loop

    def observe(self, lag: float) -> None:
        """Record one sample of ``lag`` seconds (negative values count as 0)."""
        lag = max(0.0, lag)
        self._counts[bisect_left(self._buckets, lag)] += 1
        self._count += 1
        self._sum += lag
        self._last = lag

    async def tick(self) -> float:
        """Sleep one interval, record how late the wake-up was, and return that lag."""
        start = self._clock.now()
        await self._clock.sleep(self._interval)
        lag = self._clock.now() - start - self._interval
        self.observe(lag)
        return max(0.0, lag)

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            await self.tick()

    def start(self) -> None:
        """Start sampling on the running loop (no-op if it is already running)."""
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self.run(), name="seawall-loop-lag")

    async def stop(self) -> None:
        """Stop the sampling task and wait for it to end (no-op if it is not running)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def statistics(self) -> LoopLagStatistics:
        """The histogram so far."""
        return LoopLagStatistics(self._buckets, tuple(self._counts), self._count, self._sum, self._last)

    def __repr__(self) -> str:
        return f"LoopLagSampler(interval={self._interval!r}, count={self._count!r}, running={self.running!r})"


# --- process and limits -------------------------------------------------------------------------


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


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


# --- the snapshot shared between workers --------------------------------------------------------


class GenerationSnapshot(msgspec.Struct, array_like=True, frozen=True):
    """One generation's GC counters in a :class:`RuntimeSnapshot`."""

    generation: int
    collections: int
    collected: int
    uncollectable: int
    pause_sum: float
    pause_counts: list[int]


class RuntimeSnapshot(msgspec.Struct, frozen=True):
    """One worker's runtime figures, as written to a :class:`RuntimeDir` and exported per worker.

    Histogram counts are per bucket (not cumulative), with the ``+Inf`` bucket last; ``None``
    marks a figure the worker could not read (no loop lag sampler, no running loop, no psutil).
    """

    worker: int
    gc_buckets: list[float]
    gc: list[GenerationSnapshot]
    threads: int
    tasks: int | None
    lag_buckets: list[float] | None
    lag_counts: list[int] | None
    lag_sum: float
    cpu_seconds: float | None
    resident_bytes: int | None
    open_fds: int | None
    max_fds: int | None


@final
class RuntimeDir:
    """A directory where worker processes claim a worker index and share runtime snapshots.

    :meth:`claim` takes the smallest free index with an exclusive ``flock`` on
    ``worker-<i>.lock``; the kernel drops the lock when the process exits, so a replacement
    worker reuses the index and the ``worker`` label stays bounded by the number of workers alive
    at once (a supervisor that starts the new worker before stopping the old one briefly needs
    one more). :meth:`read_live` returns the snapshots of workers whose lock is still held, so a
    dead worker's series disappear instead of freezing.

    Use a directory of its own (e.g. ``<SEAWALL_METRICS_DIR>/runtime``): files here are not
    request-metric snapshots.
    """

    __slots__ = ("_decoder", "_encoder", "_lock", "index", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(RuntimeSnapshot)
        self._lock: IO[bytes] | None = None
        #: The claimed worker index, or ``None`` before :meth:`claim`.
        self.index: int | None = None

    def claim(self) -> int:
        """Claim the smallest free worker index for this process and return it (idempotent)."""
        if self.index is not None:
            return self.index
        if sys.platform == "win32":  # pragma: no cover - no flock: one worker
            self.index = 0
            return 0
        i = 0
        while True:
            f = (self.path / f"worker-{i}.lock").open("ab")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                i += 1
                continue
            self._lock, self.index = f, i
            return i

    def release(self) -> None:
        """Give the index up (at shutdown); the kernel does the same when the process exits."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()
        self.index = None

    def _alive(self, index: int) -> bool:
        if sys.platform == "win32":  # pragma: no cover - no flock: one worker
            return False
        try:
            f = (self.path / f"worker-{index}.lock").open("rb")
        except OSError:
            return False
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True  # someone holds it exclusively: that worker is alive
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    def write(self, snapshot: RuntimeSnapshot) -> None:
        """Publish a worker's snapshot (atomically: readers never see a half-written file)."""
        final_path = self.path / f"worker-{snapshot.worker}.msgpack"
        tmp = self.path / f"worker-{snapshot.worker}.{os.getpid()}.tmp"
        tmp.write_bytes(self._encoder.encode(snapshot))
        tmp.replace(final_path)

    def read_live(self, *, exclude: int | None = None) -> list[RuntimeSnapshot]:
        """The latest snapshots of the workers that are alive, except ``exclude``, by index."""
        out = []
        for f in sorted(self.path.glob("worker-*.msgpack")):
            try:
                index = int(f.stem.removeprefix("worker-"))
            except ValueError:
                continue
            if index == exclude or not self._alive(index):
                continue
            try:
                snapshot = self._decoder.decode(f.read_bytes())
            except (OSError, msgspec.DecodeError):
                continue  # being replaced right now; its next snapshot will do
            if snapshot.worker == index:
                out.append(snapshot)
        return sorted(out, key=lambda s: s.worker)

    def __repr__(self) -> str:
        return f"RuntimeDir({str(self.path)!r}, index={self.index!r})"


# --- the collector ------------------------------------------------------------------------------


_Family = CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily
_SUM_OK: Final = "Per worker; sum across workers for the process group."
_SUM_NO: Final = "Per pod or host, not per worker: do not sum across workers or series."


@final
class RuntimeCollector(Collector):
    """Prometheus families for the Python runtime, the process and its container limits.

    Families (every per-worker family carries ``worker``, the index from :class:`RuntimeDir`,
    ``"0"`` for a single process)::

        seawall_gc_collections_total{worker,generation}            counter
        seawall_gc_objects_collected_total{worker,generation}      counter
        seawall_gc_objects_uncollectable_total{worker,generation}  counter
        seawall_gc_pause_seconds{worker,generation}                histogram
        seawall_python_threads{worker}                             gauge
        seawall_asyncio_tasks{worker}                              gauge
        seawall_event_loop_lag_seconds{worker}                     histogram
        seawall_process_cpu_seconds_total{worker}                  counter
        seawall_process_resident_memory_bytes{worker}              gauge
        seawall_process_open_fds{worker}                           gauge
        seawall_process_max_fds{worker}                            gauge
        seawall_cpu_limit_cores                                    gauge (no worker label)
        seawall_memory_limit_bytes                                 gauge (no worker label)

    Everything per worker may be summed across workers (``sum without (worker)``), histograms
    included (buckets add up); the two limits are the container's (or host's) and are exported
    once. Saturation: ``sum without (worker) (rate(seawall_process_cpu_seconds_total[1m])) /
    seawall_cpu_limit_cores`` and ``sum without (worker) (seawall_process_resident_memory_bytes)
    / seawall_memory_limit_bytes``.

    A scrape costs one psutil ``oneshot()``, two small cgroup file reads, ``len(all_tasks())``,
    and with a shared directory one file write plus one read per other live worker. Nothing
    runs per request.

    Args:
        worker: this process's worker index (from :meth:`RuntimeDir.claim`), >= 0.
        gc_monitor: an installed :class:`GcMonitor`; without one the GC families are empty.
        loop_lag: a started :class:`LoopLagSampler`; without one the lag family is empty.
        shared_dir: where workers share snapshots; ``None`` for a single process.
        loop: the loop whose tasks are counted (default: the sampler's loop, else the running one).
        read_process: the process reader (tests pass a fake).
        cgroup_root: where to read the cgroup CPU and memory limits.
        cpu_count: CPUs available when the cgroup sets no CPU quota (default: the affinity mask).
        memory_total: bytes available when the cgroup sets no memory limit (default: host RAM).

    Example::

        gc_monitor = GcMonitor(); gc_monitor.install()
        lag = LoopLagSampler(); lag.start()
        registry.register(RuntimeCollector(gc_monitor=gc_monitor, loop_lag=lag))
    """

    def __init__(
        self,
        *,
        worker: int = 0,
        gc_monitor: GcMonitor | None = None,
        loop_lag: LoopLagSampler | None = None,
        shared_dir: RuntimeDir | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        read_process: Callable[[], ProcessSample | None] | None = None,
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        cpu_count: int | None = None,
        memory_total: int | None = None,
    ) -> None:
        if worker < 0:
            raise ValueError("worker must be >= 0")
        if cpu_count is not None and cpu_count < 1:
            raise ValueError("cpu_count must be >= 1")
        if memory_total is not None and memory_total < 1:
            raise ValueError("memory_total must be >= 1")
        self.worker = worker
        self.gc_monitor = gc_monitor
        self.loop_lag = loop_lag
        self.shared_dir = shared_dir
        self._loop = loop
        self._read_process = read_process if read_process is not None else ProcessReader()
        self._cgroup_root = cgroup_root
        self._cpu_count = cpu_count if cpu_count is not None else _cpu_count()
        self._memory_total = memory_total if memory_total is not None else psutil.virtual_memory().total

    def cpu_limit(self) -> float:
        """Cores this process group may use: the cgroup quota, else the CPUs available."""
        quota = read_cgroup_cpu_limit(self._cgroup_root)
        cores = float(self._cpu_count)
        return cores if quota is None else min(quota, cores)

    def memory_limit(self) -> int:
        """Bytes this process group may use: the cgroup limit, else the host's memory."""
        limit = read_cgroup_memory_limit(self._cgroup_root)
        return self._memory_total if limit is None else min(limit, self._memory_total)

    def _task_count(self) -> int | None:
        loop = self._loop
        if loop is None and self.loop_lag is not None:
            loop = self.loop_lag.loop
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return None
        if loop.is_closed():
            return None
        return len(asyncio.all_tasks(loop))

    def snapshot(self) -> RuntimeSnapshot:
        """This worker's figures now."""
        if self.gc_monitor is not None:
            gcs = self.gc_monitor.statistics()
            gc_buckets = list(gcs.buckets)
            generations = [
                GenerationSnapshot(
                    g.generation,
                    g.collections,
                    g.collected,
                    g.uncollectable,
                    g.pause_sum,
                    list(g.pause_counts),
                )
                for g in gcs.generations
            ]
        else:
            gc_buckets, generations = [], []
        lag_buckets = lag_counts = None
        lag_sum = 0.0
        if self.loop_lag is not None:
            lag = self.loop_lag.statistics()
            lag_buckets, lag_counts, lag_sum = list(lag.buckets), list(lag.counts), lag.sum
        proc = self._read_process()
        return RuntimeSnapshot(
            worker=self.worker,
            gc_buckets=gc_buckets,
            gc=generations,
            threads=threading.active_count(),
            tasks=self._task_count(),
            lag_buckets=lag_buckets,
            lag_counts=lag_counts,
            lag_sum=lag_sum,
            cpu_seconds=None if proc is None else proc.cpu_seconds,
            resident_bytes=None if proc is None else proc.resident_bytes,
            open_fds=None if proc is None else proc.open_fds,
            max_fds=None if proc is None else proc.max_fds,
        )

    def flush(self) -> None:
        """Publish this worker's snapshot to the shared directory, if there is one.

        Call it periodically (with the request metrics' flush) so the worker that answers a
        scrape has fresh figures from the others.
        """
        if self.shared_dir is not None:
            self.shared_dir.write(self.snapshot())

    def collect(self) -> Iterator[_Family]:
        own = self.snapshot()
        workers = [own]
        if self.shared_dir is not None:
            self.shared_dir.write(own)
            workers.extend(self.shared_dir.read_live(exclude=own.worker))
            workers.sort(key=lambda s: s.worker)
        yield from _families(workers)
        cpu = GaugeMetricFamily(
            "seawall_cpu_limit_cores",
            "CPU cores the service may use: the cgroup quota (cpu.max, cfs_quota_us) if set, "
            f"else the CPUs in its affinity mask. {_SUM_NO}",
        )
        cpu.add_metric([], self.cpu_limit())
        memory = GaugeMetricFamily(
            "seawall_memory_limit_bytes",
            "Memory the service may use: the cgroup limit (memory.max, memory.limit_in_bytes) if "
            f"set, else the host's RAM. {_SUM_NO}",
        )
        memory.add_metric([], self.memory_limit())
        yield cpu
        yield memory


def _families(workers: Sequence[RuntimeSnapshot]) -> Iterator[_Family]:
    w, wg = ["worker"], ["worker", "generation"]
    collections = CounterMetricFamily(
        "seawall_gc_collections", f"Garbage collections, by generation. {_SUM_OK}", labels=wg
    )
    collected = CounterMetricFamily(
        "seawall_gc_objects_collected", f"Objects freed by garbage collection. {_SUM_OK}", labels=wg
    )
    uncollectable = CounterMetricFamily(
        "seawall_gc_objects_uncollectable",
        f"Unreachable objects the collector could not free (gc.garbage). {_SUM_OK}",
        labels=wg,
    )
    pause = HistogramMetricFamily(
        "seawall_gc_pause_seconds",
        f"Time the process was stopped in one garbage collection. {_SUM_OK}",
        labels=wg,
    )
    threads = GaugeMetricFamily("seawall_python_threads", f"Live Python threads. {_SUM_OK}", labels=w)
    tasks = GaugeMetricFamily(
        "seawall_asyncio_tasks", f"Unfinished asyncio tasks on the serving loop. {_SUM_OK}", labels=w
    )
    lag = HistogramMetricFamily(
        "seawall_event_loop_lag_seconds",
        "How late a timer on the serving loop fires: the delay every callback and request on the "
        f"loop also waits. {_SUM_OK}",
        labels=w,
    )
    cpu = CounterMetricFamily(
        "seawall_process_cpu_seconds", f"User and system CPU time consumed. {_SUM_OK}", labels=w
    )
    rss = GaugeMetricFamily(
        "seawall_process_resident_memory_bytes",
        f"Resident set size (shared pages count in every worker). {_SUM_OK}",
        labels=w,
    )
    fds = GaugeMetricFamily("seawall_process_open_fds", f"Open file descriptors. {_SUM_OK}", labels=w)
    max_fds = GaugeMetricFamily(
        "seawall_process_max_fds",
        "The soft limit on open file descriptors of one worker; compare per worker, do not sum.",
        labels=w,
    )
    for s in workers:
        worker = str(s.worker)
        for g in s.gc:
            labels = [worker, str(g.generation)]
            collections.add_metric(labels, g.collections)
            collected.add_metric(labels, g.collected)
            uncollectable.add_metric(labels, g.uncollectable)
            if len(g.pause_counts) == len(s.gc_buckets) + 1:
                pause.add_metric(labels, _cumulative(s.gc_buckets, g.pause_counts), g.pause_sum)
        threads.add_metric([worker], s.threads)
        if s.tasks is not None:
            tasks.add_metric([worker], s.tasks)
        if (
            s.lag_buckets is not None
            and s.lag_counts is not None
            and len(s.lag_counts) == len(s.lag_buckets) + 1
        ):
            lag.add_metric([worker], _cumulative(s.lag_buckets, s.lag_counts), s.lag_sum)
        if s.cpu_seconds is not None:
            cpu.add_metric([worker], s.cpu_seconds)
        if s.resident_bytes is not None:
            rss.add_metric([worker], s.resident_bytes)
        if s.open_fds is not None:
            fds.add_metric([worker], s.open_fds)
        if s.max_fds is not None:
            max_fds.add_metric([worker], s.max_fds)
    yield from (collections, collected, uncollectable, pause, threads, tasks, lag, cpu, rss, fds, max_fds)


def _cumulative(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    out = []
    total = 0
    for bound, n in zip((*bounds, math.inf), counts, strict=True):
        total += n
        out.append(("+Inf" if bound == math.inf else repr(bound), float(total)))
    return out
