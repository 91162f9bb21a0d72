"""Tests for seawall.observe.RuntimeCollector: families, limits and per-worker export."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.observe.runtime_support import collector, lbl, monitor_collect, scrape, write

from seawall.observe import GcMonitor, LoopLagSampler, ProcessSample, RuntimeDir
from seawall.testing import MockClock

# --- RuntimeCollector ---------------------------------------------------------------------------


def test_process_families_come_from_the_reader(tmp_path: Path) -> None:
    """CPU seconds, RSS and file descriptors are the reader's figures, labelled worker="0"."""
    s = scrape(collector(tmp_path))
    w = lbl(worker="0")
    assert s["seawall_process_cpu_seconds_total"][w] == 12.5
    assert s["seawall_process_resident_memory_bytes"][w] == 50_000_000
    assert s["seawall_process_open_fds"][w] == 17
    assert s["seawall_process_max_fds"][w] == 1024
    assert s["seawall_python_threads"][w] >= 1


def test_unreadable_process_exports_no_process_samples(tmp_path: Path) -> None:
    """When the reader fails, the process families are empty rather than zero."""
    s = scrape(collector(tmp_path, read_process=lambda: None))
    assert "seawall_process_cpu_seconds_total" not in s
    assert "seawall_process_resident_memory_bytes" not in s


def test_worker_label_is_the_configured_index(tmp_path: Path) -> None:
    """Per-worker families carry the worker index, never the pid."""
    s = scrape(collector(tmp_path, worker=3))
    assert set(s["seawall_process_cpu_seconds_total"]) == {lbl(worker="3")}


def test_worker_must_be_non_negative(tmp_path: Path) -> None:
    """A negative worker index is rejected at construction."""
    with pytest.raises(ValueError, match="worker must be >= 0"):
        collector(tmp_path, worker=-1)


def test_limits_come_from_the_cgroup(tmp_path: Path) -> None:
    """cpu.max 150000/100000 is 1.5 cores; memory.max is the memory limit; neither has a worker label."""
    write(tmp_path / "cgroup" / "cpu.max", "150000 100000")
    write(tmp_path / "cgroup" / "memory.max", str(512 << 20))
    s = scrape(collector(tmp_path))
    assert s["seawall_cpu_limit_cores"] == {frozenset(): 1.5}
    assert s["seawall_memory_limit_bytes"] == {frozenset(): 512 << 20}


def test_limits_fall_back_to_the_host(tmp_path: Path) -> None:
    """Without cgroup limits, the limits are the CPUs available and the host's memory."""
    s = scrape(collector(tmp_path, cpu_count=4, memory_total=8 << 30))
    assert s["seawall_cpu_limit_cores"] == {frozenset(): 4.0}
    assert s["seawall_memory_limit_bytes"] == {frozenset(): 8 << 30}


def test_cgroup_limit_above_the_host_is_capped(tmp_path: Path) -> None:
    """A quota of 16 cores on a 4-CPU affinity mask is 4 cores; a limit above RAM is RAM."""
    write(tmp_path / "cgroup" / "cpu.max", "1600000 100000")
    write(tmp_path / "cgroup" / "memory.max", str(64 << 30))
    c = collector(tmp_path, cpu_count=4, memory_total=8 << 30)
    assert (c.cpu_limit(), c.memory_limit()) == (4.0, 8 << 30)


@pytest.mark.parametrize(("kwarg", "message"), [("cpu_count", "cpu_count"), ("memory_total", "memory_total")])
def test_host_fallbacks_are_validated(tmp_path: Path, kwarg: str, message: str) -> None:
    """cpu_count and memory_total must be >= 1."""
    with pytest.raises(ValueError, match=f"{message} must be >= 1"):
        collector(tmp_path, **{kwarg: 0})


def test_gc_families_are_the_monitors_statistics(tmp_path: Path) -> None:
    """GC counters and the pause histogram are exported per worker and generation."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock)
    monitor_collect(monitor, clock, 1, 0.003, collected=9)
    monitor_collect(monitor, clock, 1, 0.2)
    s = scrape(collector(tmp_path, gc_monitor=monitor))
    g1 = lbl(worker="0", generation="1")
    assert s["seawall_gc_collections_total"][g1] == 2
    assert s["seawall_gc_objects_collected_total"][g1] == 9
    assert s["seawall_gc_objects_uncollectable_total"][g1] == 2
    assert s["seawall_gc_pause_seconds_count"][g1] == 2
    assert s["seawall_gc_pause_seconds_sum"][g1] == pytest.approx(0.203)
    buckets = s["seawall_gc_pause_seconds_bucket"]
    assert buckets[lbl(worker="0", generation="1", le="0.0025")] == 0
    assert buckets[lbl(worker="0", generation="1", le="0.005")] == 1
    assert buckets[lbl(worker="0", generation="1", le="0.25")] == 2
    assert buckets[lbl(worker="0", generation="1", le="+Inf")] == 2
    assert s["seawall_gc_collections_total"][lbl(worker="0", generation="0")] == 0


def test_without_monitor_or_sampler_those_families_are_empty(tmp_path: Path) -> None:
    """No GC monitor, no sampler: no GC or lag samples (and no error)."""
    s = scrape(collector(tmp_path))
    assert "seawall_gc_collections_total" not in s
    assert "seawall_event_loop_lag_seconds_count" not in s


def test_lag_family_is_the_samplers_histogram(tmp_path: Path) -> None:
    """The loop lag histogram is exported cumulatively with its sum and count."""
    sampler = LoopLagSampler()
    for lag in (0.0002, 0.004, 0.3):
        sampler.observe(lag)
    s = scrape(collector(tmp_path, loop_lag=sampler))
    w = lbl(worker="0")
    assert s["seawall_event_loop_lag_seconds_count"][w] == 3
    assert s["seawall_event_loop_lag_seconds_sum"][w] == pytest.approx(0.3042)
    buckets = s["seawall_event_loop_lag_seconds_bucket"]
    assert buckets[lbl(worker="0", le="0.0005")] == 1
    assert buckets[lbl(worker="0", le="0.005")] == 2
    assert buckets[lbl(worker="0", le="0.25")] == 2
    assert buckets[lbl(worker="0", le="0.5")] == 3


async def test_task_count_is_the_loops_unfinished_tasks(tmp_path: Path) -> None:
    """Three more sleeping tasks raise the task gauge by three."""
    c = collector(tmp_path)
    before = scrape(c)["seawall_asyncio_tasks"][lbl(worker="0")]
    event = asyncio.Event()
    tasks = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    try:
        assert scrape(c)["seawall_asyncio_tasks"][lbl(worker="0")] == before + 3
    finally:
        event.set()
        await asyncio.gather(*tasks)


def test_task_count_needs_a_loop(tmp_path: Path) -> None:
    """Scraped from a thread with no loop and none configured, the task gauge is left out."""
    assert "seawall_asyncio_tasks" not in scrape(collector(tmp_path))


async def test_task_count_uses_the_samplers_loop(tmp_path: Path, autojump_clock: MockClock) -> None:
    """With a started sampler, tasks are counted on its loop (even when scraped elsewhere)."""
    sampler = LoopLagSampler(clock=autojump_clock)
    sampler.start()
    c = collector(tmp_path, loop_lag=sampler)
    try:
        assert c.snapshot().tasks == len(asyncio.all_tasks())
    finally:
        await sampler.stop()


# --- several workers ----------------------------------------------------------------------------
def test_answering_worker_exports_every_live_worker(tmp_path: Path) -> None:
    """A scrape of worker 0 carries worker 1's series from its published snapshot."""
    d0, d1 = RuntimeDir(tmp_path), RuntimeDir(tmp_path)
    w0 = collector(tmp_path, worker=d0.claim(), shared_dir=d0)
    other = ProcessSample(cpu_seconds=3.0, resident_bytes=10, open_fds=5, max_fds=1024)
    w1 = collector(tmp_path, worker=d1.claim(), shared_dir=d1, read_process=lambda: other)
    w1.flush()
    s = scrape(w0)
    assert s["seawall_process_cpu_seconds_total"] == {lbl(worker="0"): 12.5, lbl(worker="1"): 3.0}
    assert s["seawall_cpu_limit_cores"] == {frozenset(): 8.0}  # once, not per worker


def test_dead_workers_series_disappear(tmp_path: Path) -> None:
    """Once a worker's index is released (it exited), its last snapshot is no longer exported."""
    d0, d1 = RuntimeDir(tmp_path), RuntimeDir(tmp_path)
    w0 = collector(tmp_path, worker=d0.claim(), shared_dir=d0)
    w1 = collector(tmp_path, worker=d1.claim(), shared_dir=d1)
    w1.flush()
    d1.release()
    assert set(scrape(w0)["seawall_process_cpu_seconds_total"]) == {lbl(worker="0")}


def test_corrupt_snapshot_is_skipped(tmp_path: Path) -> None:
    """A half-written or foreign file in the directory does not break the scrape."""
    d0, d1 = RuntimeDir(tmp_path), RuntimeDir(tmp_path)
    w0 = collector(tmp_path, worker=d0.claim(), shared_dir=d0)
    d1.claim()
    (tmp_path / "worker-1.msgpack").write_bytes(b"\x00garbage")
    (tmp_path / "worker-x.msgpack").write_bytes(b"")
    assert set(scrape(w0)["seawall_process_cpu_seconds_total"]) == {lbl(worker="0")}


def test_flush_without_shared_dir_is_a_no_op(tmp_path: Path) -> None:
    """A single-process collector writes nothing."""
    collector(tmp_path).flush()
    assert list(tmp_path.iterdir()) == []


def test_summed_counters_add_up_across_workers(tmp_path: Path) -> None:
    """sum without(worker) of the CPU counter equals the workers' own totals."""
    dirs = [RuntimeDir(tmp_path / "rt") for _ in range(3)]
    collectors = []
    for i, d in enumerate(dirs):
        sample = ProcessSample(
            cpu_seconds=float(i + 1), resident_bytes=100 * (i + 1), open_fds=1, max_fds=None
        )
        collectors.append(
            collector(tmp_path, worker=d.claim(), shared_dir=d, read_process=lambda s=sample: s)
        )
    for c in collectors[1:]:
        c.flush()
    s = scrape(collectors[0])
    assert sum(s["seawall_process_cpu_seconds_total"].values()) == 6.0
    assert sum(s["seawall_process_resident_memory_bytes"].values()) == 600
    assert "seawall_process_max_fds" not in s
