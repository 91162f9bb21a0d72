"""Runtime metrics: garbage collection, threads, the event loop, the process, and its limits.

:class:`RuntimeCollector` is a prometheus_client ``Collector`` (no global registry): it reads
cheap counters at scrape time and costs nothing per request. Two parts keep state between
scrapes: :class:`~seawall.observe.GcMonitor` (a ``gc.callbacks`` hook timing each collection)
and :class:`~seawall.observe.LoopLagSampler` (a task that sleeps a fixed interval and records
how late it wakes).

With several worker processes a scrape reaches one of them; each worker therefore leaves its
snapshot in a shared :class:`~seawall.observe.RuntimeDir`, and the worker that answers exports
every live worker's series under a bounded ``worker`` label. What may be summed across workers
is said in each family's help.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final, final

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from seawall.load import read_cgroup_cpu_limit
from seawall.observe._gc import GcMonitor
from seawall.observe._histogram import cumulative
from seawall.observe._loop_lag import LoopLagSampler
from seawall.observe._process import ProcessReader, ProcessSample, read_cgroup_memory_limit
from seawall.observe._process import cpu_count as _host_cpus
from seawall.observe._runtime_dir import GenerationSnapshot, RuntimeDir, RuntimeSnapshot

__all__ = ["RuntimeCollector"]

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
        self._cpu_count = cpu_count if cpu_count is not None else _host_cpus()
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
                pause.add_metric(labels, cumulative(s.gc_buckets, g.pause_counts), g.pause_sum)
        threads.add_metric([worker], s.threads)
        if s.tasks is not None:
            tasks.add_metric([worker], s.tasks)
        if (
            s.lag_buckets is not None
            and s.lag_counts is not None
            and len(s.lag_counts) == len(s.lag_buckets) + 1
        ):
            lag.add_metric([worker], cumulative(s.lag_buckets, s.lag_counts), s.lag_sum)
        if s.cpu_seconds is not None:
            cpu.add_metric([worker], s.cpu_seconds)
        if s.resident_bytes is not None:
            rss.add_metric([worker], s.resident_bytes)
        if s.open_fds is not None:
            fds.add_metric([worker], s.open_fds)
        if s.max_fds is not None:
            max_fds.add_metric([worker], s.max_fds)
    yield from (collections, collected, uncollectable, pause, threads, tasks, lag, cpu, rss, fds, max_fds)
