"""Tests for seawall.observe's runtime metrics: GC, loop lag, process, limits, per-worker export."""

from __future__ import annotations

import asyncio
import gc
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from seawall.observe import (
    GC_PAUSE_BUCKETS,
    LOOP_LAG_BUCKETS,
    GcMonitor,
    LoopLagSampler,
    ProcessReader,
    ProcessSample,
    RuntimeCollector,
    RuntimeDir,
    read_cgroup_memory_limit,
)
from seawall.testing import MockClock

FAKE = ProcessSample(cpu_seconds=12.5, resident_bytes=50_000_000, open_fds=17, max_fds=1024)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _collector(tmp_path: Path, **kwargs: object) -> RuntimeCollector:
    defaults: dict[str, object] = {
        "read_process": lambda: FAKE,
        "cgroup_root": tmp_path / "cgroup",
        "cpu_count": 8,
        "memory_total": 16 << 30,
    }
    defaults.update(kwargs)
    return RuntimeCollector(**defaults)  # type: ignore[arg-type]


def scrape(*collectors: RuntimeCollector) -> dict[str, dict[frozenset[tuple[str, str]], float]]:
    """Every sample of the collectors' exposition, by sample name then label set."""
    registry = CollectorRegistry(auto_describe=False)
    for c in collectors:
        registry.register(c)
    out: dict[str, dict[frozenset[tuple[str, str]], float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return out


def lbl(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset(kw.items())


# --- GcMonitor ----------------------------------------------------------------------------------


def _collect(monitor: GcMonitor, clock: MockClock, generation: int, pause: float, collected: int = 0) -> None:
    monitor.callback("start", {"generation": generation, "collected": 0, "uncollectable": 0})
    clock.jump(pause)
    monitor.callback("stop", {"generation": generation, "collected": collected, "uncollectable": 1})


def test_gc_pause_is_the_time_between_start_and_stop() -> None:
    """A 3 ms collection of generation 2 lands in the 5 ms bucket and adds 3 ms to the sum."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock)
    _collect(monitor, clock, 2, 0.003, collected=40)
    g = monitor.statistics().generations[2]
    assert g.collections == 1
    assert g.collected == 40
    assert g.uncollectable == 1
    assert g.pause_sum == pytest.approx(0.003)
    assert g.pause_counts[GC_PAUSE_BUCKETS.index(0.005)] == 1
    assert sum(g.pause_counts) == 1


def test_gc_pause_on_a_bound_counts_in_that_bucket() -> None:
    """Prometheus buckets are ``le``: a pause of exactly 1 ms is in the 1 ms bucket."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock, buckets=(0.001, 0.002))
    _collect(monitor, clock, 0, 0.001)
    assert monitor.statistics().generations[0].pause_counts == (1, 0, 0)


def test_gc_long_pause_goes_to_inf_bucket() -> None:
    """A pause beyond the last bound is counted in the +Inf bucket only."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock, buckets=(0.001,))
    _collect(monitor, clock, 1, 2.0)
    assert monitor.statistics().generations[1].pause_counts == (0, 1)


def test_gc_generations_are_counted_separately() -> None:
    """Collections of generation 0 do not count for generation 1 or 2."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock)
    for _ in range(3):
        _collect(monitor, clock, 0, 0.0001)
    _collect(monitor, clock, 1, 0.0001)
    assert [g.collections for g in monitor.statistics().generations] == [3, 1, 0]


def test_gc_stop_without_start_counts_but_has_no_pause() -> None:
    """A stop whose start was missed (installed mid-collection) counts the collection, no pause."""
    monitor = GcMonitor(clock=MockClock())
    monitor.callback("stop", {"generation": 0, "collected": 5, "uncollectable": 0})
    g = monitor.statistics().generations[0]
    assert (g.collections, g.collected, sum(g.pause_counts)) == (1, 5, 0)


def test_gc_unknown_generation_is_ignored() -> None:
    """A generation outside 0..2 (a future CPython) changes nothing."""
    monitor = GcMonitor(clock=MockClock())
    monitor.callback("start", {"generation": 7})
    monitor.callback("stop", {"generation": 7, "collected": 5})
    assert all(g.collections == 0 for g in monitor.statistics().generations)


def test_gc_monitor_counts_real_collections_only_while_installed() -> None:
    """gc.collect() is seen after install() and not after uninstall()."""
    monitor = GcMonitor()
    with monitor:
        assert monitor.installed
        gc.collect()
        seen = monitor.statistics().generations[2].collections
        assert seen >= 1
    assert not monitor.installed
    gc.collect()
    assert monitor.statistics().generations[2].collections == seen


def test_gc_install_is_idempotent() -> None:
    """Installing twice adds the callback once; uninstalling twice is harmless."""
    monitor = GcMonitor()
    monitor.install()
    monitor.install()
    try:
        assert gc.callbacks.count(monitor.callback) == 1
    finally:
        monitor.uninstall()
        monitor.uninstall()
    assert monitor.callback not in gc.callbacks


@pytest.mark.parametrize(
    ("buckets", "message"),
    [
        ((), "buckets must not be empty"),
        ((0.1, 0.1), "buckets must be strictly increasing"),
        ((0.2, 0.1), "buckets must be strictly increasing"),
        ((0.0, 0.1), "buckets must be finite and > 0"),
        ((0.1, math.inf), "buckets must be finite and > 0"),
        ((math.nan,), "buckets must be finite and > 0"),
    ],
)
def test_bad_buckets_are_rejected(buckets: tuple[float, ...], message: str) -> None:
    """Histogram bounds must be positive, finite and strictly increasing."""
    with pytest.raises(ValueError, match=message):
        GcMonitor(buckets=buckets)
    with pytest.raises(ValueError, match=message):
        LoopLagSampler(buckets=buckets)


@given(st.lists(st.tuples(st.integers(0, 2), st.floats(0, 2, allow_nan=False)), max_size=40))
def test_gc_histogram_counts_every_pause_at_or_under_each_bound(events: list[tuple[int, float]]) -> None:
    """Cumulatively, each bucket holds exactly the pauses <= its bound, and the count is the collections."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock)
    for generation, pause in events:
        _collect(monitor, clock, generation, pause)
    for g in monitor.statistics().generations:
        pauses = [p for gen, p in events if gen == g.generation]
        assert g.collections == len(pauses)
        cumulative = 0
        for bound, n in zip(GC_PAUSE_BUCKETS, g.pause_counts, strict=False):
            cumulative += n
            # MockClock differences are exact up to float addition; compare with a hair of slack
            assert cumulative >= sum(1 for p in pauses if p <= bound - 1e-9)
            assert cumulative <= sum(1 for p in pauses if p <= bound + 1e-9)
        assert sum(g.pause_counts) == len(pauses)


# --- LoopLagSampler -----------------------------------------------------------------------------


async def test_lag_is_how_late_the_sampler_wakes(mock_clock: MockClock) -> None:
    """Woken 30 ms after its 100 ms sleep was due, the sampler records 30 ms of lag."""
    sampler = LoopLagSampler(interval=0.1, clock=mock_clock)
    tick = asyncio.ensure_future(sampler.tick())
    await asyncio.sleep(0)
    mock_clock.jump(0.13)
    assert await tick == pytest.approx(0.03)
    stats = sampler.statistics()
    assert stats.count == 1
    assert stats.sum == pytest.approx(0.03)
    assert stats.last == pytest.approx(0.03)
    assert stats.counts[LOOP_LAG_BUCKETS.index(0.05)] == 1


async def test_on_time_wake_has_no_lag(autojump_clock: MockClock) -> None:
    """With nothing blocking, every sample is 0 and lands in the first bucket."""
    sampler = LoopLagSampler(interval=0.25, clock=autojump_clock)
    for _ in range(5):
        assert await sampler.tick() == 0.0
    stats = sampler.statistics()
    assert (stats.count, stats.sum, stats.counts[0]) == (5, 0.0, 5)


async def test_sampler_runs_until_stopped(autojump_clock: MockClock) -> None:
    """start() samples every interval on the running loop; stop() ends the task."""
    sampler = LoopLagSampler(interval=0.25, clock=autojump_clock)
    sampler.start()
    sampler.start()  # idempotent: still one task
    assert sampler.running
    assert sampler.loop is asyncio.get_running_loop()
    await autojump_clock.sleep(1.1)
    await sampler.stop()
    assert not sampler.running
    assert sampler.statistics().count == 4
    await sampler.stop()  # no-op


async def test_blocked_loop_shows_as_lag(mock_clock: MockClock) -> None:
    """Time that passes while the loop is busy (here: a jump past the due time) is lag."""
    sampler = LoopLagSampler(interval=0.5, clock=mock_clock)
    sampler.start()
    await asyncio.sleep(0)
    mock_clock.jump(0.5)  # on time
    await asyncio.sleep(0)
    mock_clock.jump(0.7)  # 200 ms late
    await asyncio.sleep(0)
    await sampler.stop()
    stats = sampler.statistics()
    assert stats.count == 2
    assert stats.sum == pytest.approx(0.2)
    assert stats.counts[LOOP_LAG_BUCKETS.index(0.25)] == 1


def test_observe_clamps_negative_lag_to_zero() -> None:
    """A clock that wakes early never records negative lag."""
    sampler = LoopLagSampler()
    sampler.observe(-0.5)
    stats = sampler.statistics()
    assert (stats.sum, stats.counts[0], stats.last) == (0.0, 1, 0.0)


@pytest.mark.parametrize("interval", [0, -1, math.nan, math.inf])
def test_sampler_interval_must_be_positive_and_finite(interval: float) -> None:
    """interval is validated at construction."""
    with pytest.raises(ValueError, match="interval must be > 0 and finite"):
        LoopLagSampler(interval=interval)


@given(st.lists(st.floats(0, 10, allow_nan=False), max_size=50))
def test_lag_histogram_is_consistent(lags: list[float]) -> None:
    """Count and sum match the observations; each cumulative bucket holds the lags <= its bound."""
    sampler = LoopLagSampler()
    for lag in lags:
        sampler.observe(lag)
    stats = sampler.statistics()
    assert stats.count == len(lags)
    assert stats.sum == pytest.approx(math.fsum(lags))
    cumulative = 0
    for bound, n in zip(LOOP_LAG_BUCKETS, stats.counts, strict=False):
        cumulative += n
        assert cumulative == sum(1 for x in lags if x <= bound)


# --- cgroup memory limit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "limit"),
    [
        ("536870912\n", 536870912),
        ("max\n", None),
        ("", None),
        ("garbage", None),
        ("0", None),
    ],
)
def test_cgroup_v2_memory_max(tmp_path: Path, content: str, limit: int | None) -> None:
    """memory.max is a byte count; "max" or malformed means no limit."""
    _write(tmp_path / "memory.max", content)
    assert read_cgroup_memory_limit(tmp_path) == limit


@pytest.mark.parametrize("subdir", [".", "memory"])
def test_cgroup_v1_memory_limit(tmp_path: Path, subdir: str) -> None:
    """cgroup v1 memory.limit_in_bytes is read from the root or the memory controller dir."""
    _write(tmp_path / subdir / "memory.limit_in_bytes", "1073741824\n")
    assert read_cgroup_memory_limit(tmp_path) == 1 << 30


def test_cgroup_v1_unlimited_memory(tmp_path: Path) -> None:
    """v1's page-aligned LONG_MAX (its "no limit") is no limit."""
    _write(tmp_path / "memory.limit_in_bytes", "9223372036854771712\n")
    assert read_cgroup_memory_limit(tmp_path) is None


def test_cgroup_v2_wins_over_v1(tmp_path: Path) -> None:
    """When both files exist, the v2 file decides (even when it says no limit)."""
    _write(tmp_path / "memory.max", "max")
    _write(tmp_path / "memory.limit_in_bytes", "1073741824")
    assert read_cgroup_memory_limit(tmp_path) is None


def test_no_memory_cgroup_means_no_limit(tmp_path: Path) -> None:
    """Without any cgroup file there is no limit."""
    assert read_cgroup_memory_limit(tmp_path / "missing") is None


# --- RuntimeCollector ---------------------------------------------------------------------------


def test_process_families_come_from_the_reader(tmp_path: Path) -> None:
    """CPU seconds, RSS and file descriptors are the reader's figures, labelled worker="0"."""
    s = scrape(_collector(tmp_path))
    w = lbl(worker="0")
    assert s["seawall_process_cpu_seconds_total"][w] == 12.5
    assert s["seawall_process_resident_memory_bytes"][w] == 50_000_000
    assert s["seawall_process_open_fds"][w] == 17
    assert s["seawall_process_max_fds"][w] == 1024
    assert s["seawall_python_threads"][w] >= 1


def test_unreadable_process_exports_no_process_samples(tmp_path: Path) -> None:
    """When the reader fails, the process families are empty rather than zero."""
    s = scrape(_collector(tmp_path, read_process=lambda: None))
    assert "seawall_process_cpu_seconds_total" not in s
    assert "seawall_process_resident_memory_bytes" not in s


def test_worker_label_is_the_configured_index(tmp_path: Path) -> None:
    """Per-worker families carry the worker index, never the pid."""
    s = scrape(_collector(tmp_path, worker=3))
    assert set(s["seawall_process_cpu_seconds_total"]) == {lbl(worker="3")}


def test_worker_must_be_non_negative(tmp_path: Path) -> None:
    """A negative worker index is rejected at construction."""
    with pytest.raises(ValueError, match="worker must be >= 0"):
        _collector(tmp_path, worker=-1)


def test_limits_come_from_the_cgroup(tmp_path: Path) -> None:
    """cpu.max 150000/100000 is 1.5 cores; memory.max is the memory limit; neither has a worker label."""
    _write(tmp_path / "cgroup" / "cpu.max", "150000 100000")
    _write(tmp_path / "cgroup" / "memory.max", str(512 << 20))
    s = scrape(_collector(tmp_path))
    assert s["seawall_cpu_limit_cores"] == {frozenset(): 1.5}
    assert s["seawall_memory_limit_bytes"] == {frozenset(): 512 << 20}


def test_limits_fall_back_to_the_host(tmp_path: Path) -> None:
    """Without cgroup limits, the limits are the CPUs available and the host's memory."""
    s = scrape(_collector(tmp_path, cpu_count=4, memory_total=8 << 30))
    assert s["seawall_cpu_limit_cores"] == {frozenset(): 4.0}
    assert s["seawall_memory_limit_bytes"] == {frozenset(): 8 << 30}


def test_cgroup_limit_above_the_host_is_capped(tmp_path: Path) -> None:
    """A quota of 16 cores on a 4-CPU affinity mask is 4 cores; a limit above RAM is RAM."""
    _write(tmp_path / "cgroup" / "cpu.max", "1600000 100000")
    _write(tmp_path / "cgroup" / "memory.max", str(64 << 30))
    c = _collector(tmp_path, cpu_count=4, memory_total=8 << 30)
    assert (c.cpu_limit(), c.memory_limit()) == (4.0, 8 << 30)


@pytest.mark.parametrize(("kwarg", "message"), [("cpu_count", "cpu_count"), ("memory_total", "memory_total")])
def test_host_fallbacks_are_validated(tmp_path: Path, kwarg: str, message: str) -> None:
    """cpu_count and memory_total must be >= 1."""
    with pytest.raises(ValueError, match=f"{message} must be >= 1"):
        _collector(tmp_path, **{kwarg: 0})


def test_gc_families_are_the_monitors_statistics(tmp_path: Path) -> None:
    """GC counters and the pause histogram are exported per worker and generation."""
    clock = MockClock()
    monitor = GcMonitor(clock=clock)
    _collect(monitor, clock, 1, 0.003, collected=9)
    _collect(monitor, clock, 1, 0.2)
    s = scrape(_collector(tmp_path, gc_monitor=monitor))
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
    s = scrape(_collector(tmp_path))
    assert "seawall_gc_collections_total" not in s
    assert "seawall_event_loop_lag_seconds_count" not in s


def test_lag_family_is_the_samplers_histogram(tmp_path: Path) -> None:
    """The loop lag histogram is exported cumulatively with its sum and count."""
    sampler = LoopLagSampler()
    for lag in (0.0002, 0.004, 0.3):
        sampler.observe(lag)
    s = scrape(_collector(tmp_path, loop_lag=sampler))
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
    collector = _collector(tmp_path)
    before = scrape(collector)["seawall_asyncio_tasks"][lbl(worker="0")]
    event = asyncio.Event()
    tasks = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    try:
        assert scrape(collector)["seawall_asyncio_tasks"][lbl(worker="0")] == before + 3
    finally:
        event.set()
        await asyncio.gather(*tasks)


def test_task_count_needs_a_loop(tmp_path: Path) -> None:
    """Scraped from a thread with no loop and none configured, the task gauge is left out."""
    assert "seawall_asyncio_tasks" not in scrape(_collector(tmp_path))


async def test_task_count_uses_the_samplers_loop(tmp_path: Path, autojump_clock: MockClock) -> None:
    """With a started sampler, tasks are counted on its loop (even when scraped elsewhere)."""
    sampler = LoopLagSampler(clock=autojump_clock)
    sampler.start()
    collector = _collector(tmp_path, loop_lag=sampler)
    try:
        assert collector.snapshot().tasks == len(asyncio.all_tasks())
    finally:
        await sampler.stop()


def test_real_process_reader_reads_this_process() -> None:
    """The psutil reader sees CPU time, resident memory and open descriptors of this process."""
    sample = ProcessReader()()
    assert sample is not None
    assert sample.cpu_seconds > 0
    assert sample.resident_bytes > 1 << 20
    assert sample.open_fds is not None
    assert sample.open_fds >= 3


# --- several workers ----------------------------------------------------------------------------


def test_claim_takes_the_smallest_free_index(tmp_path: Path) -> None:
    """Workers claim 0, 1, 2; a released index is reused by the next claimer."""
    dirs = [RuntimeDir(tmp_path) for _ in range(3)]
    assert [d.claim() for d in dirs] == [0, 1, 2]
    assert dirs[0].claim() == 0  # idempotent
    dirs[1].release()
    assert RuntimeDir(tmp_path).claim() == 1


def test_answering_worker_exports_every_live_worker(tmp_path: Path) -> None:
    """A scrape of worker 0 carries worker 1's series from its published snapshot."""
    d0, d1 = RuntimeDir(tmp_path), RuntimeDir(tmp_path)
    w0 = _collector(tmp_path, worker=d0.claim(), shared_dir=d0)
    other = ProcessSample(cpu_seconds=3.0, resident_bytes=10, open_fds=5, max_fds=1024)
    w1 = _collector(tmp_path, worker=d1.claim(), shared_dir=d1, read_process=lambda: other)
    w1.flush()
    s = scrape(w0)
    assert s["seawall_process_cpu_seconds_total"] == {lbl(worker="0"): 12.5, lbl(worker="1"): 3.0}
    assert s["seawall_cpu_limit_cores"] == {frozenset(): 8.0}  # once, not per worker


def test_dead_workers_series_disappear(tmp_path: Path) -> None:
    """Once a worker's index is released (it exited), its last snapshot is no longer exported."""
    d0, d1 = RuntimeDir(tmp_path), RuntimeDir(tmp_path)
    w0 = _collector(tmp_path, worker=d0.claim(), shared_dir=d0)
    w1 = _collector(tmp_path, worker=d1.claim(), shared_dir=d1)
    w1.flush()
    d1.release()
    assert set(scrape(w0)["seawall_process_cpu_seconds_total"]) == {lbl(worker="0")}


def test_corrupt_snapshot_is_skipped(tmp_path: Path) -> None:
    """A half-written or foreign file in the directory does not break the scrape."""
    d0, d1 = RuntimeDir(tmp_path), RuntimeDir(tmp_path)
    w0 = _collector(tmp_path, worker=d0.claim(), shared_dir=d0)
    d1.claim()
    (tmp_path / "worker-1.msgpack").write_bytes(b"\x00garbage")
    (tmp_path / "worker-x.msgpack").write_bytes(b"")
    assert set(scrape(w0)["seawall_process_cpu_seconds_total"]) == {lbl(worker="0")}


def test_flush_without_shared_dir_is_a_no_op(tmp_path: Path) -> None:
    """A single-process collector writes nothing."""
    _collector(tmp_path).flush()
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
            _collector(tmp_path, worker=d.claim(), shared_dir=d, read_process=lambda s=sample: s)
        )
    for c in collectors[1:]:
        c.flush()
    s = scrape(collectors[0])
    assert sum(s["seawall_process_cpu_seconds_total"].values()) == 6.0
    assert sum(s["seawall_process_resident_memory_bytes"].values()) == 600
    assert "seawall_process_max_fds" not in s
