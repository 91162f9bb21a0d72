"""Tests for seawall.load's CPU probes and cgroup quota reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from seawall.load import CpuProbe, FixedCpuProbe, ProcessCpuProbe, read_cgroup_cpu_limit
from seawall.testing import MockClock


class FakeCpu:
    """A CPU-seconds source the test advances by hand."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def _probe(
    tmp_path: Path, *, cores: float = 1.0, cpu_count: int = 8, decay: float = 0.95
) -> tuple[ProcessCpuProbe, FakeCpu, MockClock]:
    clock = MockClock()
    cpu = FakeCpu()
    probe = ProcessCpuProbe(
        clock=clock,
        read_cpu_seconds=cpu,
        cgroup_root=tmp_path,
        max_cores=cores,
        cpu_count=cpu_count,
        decay=decay,
    )
    return probe, cpu, clock


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- cgroup quota -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "cores"),
    [
        ("50000 100000\n", 0.5),
        ("200000 100000", 2.0),
        ("max 100000\n", None),
        ("max", None),
        ("", None),
        ("garbage 100000", None),
        ("50000 0", None),
    ],
)
def test_cgroup_v2_cpu_max(tmp_path: Path, content: str, cores: float | None) -> None:
    """cpu.max "QUOTA PERIOD" gives QUOTA/PERIOD cores; "max" or malformed means no limit."""
    _write(tmp_path / "cpu.max", content)
    assert read_cgroup_cpu_limit(tmp_path) == cores


def test_no_cgroup_files_means_no_limit(tmp_path: Path) -> None:
    """Without any cgroup file there is no quota."""
    assert read_cgroup_cpu_limit(tmp_path) is None
    assert read_cgroup_cpu_limit(tmp_path / "missing") is None


@pytest.mark.parametrize("subdir", [".", "cpu", "cpu,cpuacct"])
def test_cgroup_v1_quota_and_period(tmp_path: Path, subdir: str) -> None:
    """cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us are read from the root or its cpu controller dir."""
    _write(tmp_path / subdir / "cpu.cfs_quota_us", "150000\n")
    _write(tmp_path / subdir / "cpu.cfs_period_us", "100000\n")
    assert read_cgroup_cpu_limit(tmp_path) == 1.5


@pytest.mark.parametrize(("quota", "period"), [("-1", "100000"), ("abc", "100000"), ("50000", None)])
def test_cgroup_v1_unlimited_or_malformed(tmp_path: Path, quota: str, period: str | None) -> None:
    """A v1 quota of -1, a malformed value or a missing period means no limit."""
    _write(tmp_path / "cpu" / "cpu.cfs_quota_us", quota)
    if period is not None:
        _write(tmp_path / "cpu" / "cpu.cfs_period_us", period)
    assert read_cgroup_cpu_limit(tmp_path) is None


def test_cgroup_v2_wins_over_v1(tmp_path: Path) -> None:
    """When cpu.max exists, the v1 files are not consulted."""
    _write(tmp_path / "cpu.max", "max 100000")
    _write(tmp_path / "cpu" / "cpu.cfs_quota_us", "50000")
    _write(tmp_path / "cpu" / "cpu.cfs_period_us", "100000")
    assert read_cgroup_cpu_limit(tmp_path) is None


# --- ProcessCpuProbe ----------------------------------------------------------------------------


def test_cap_is_the_smallest_of_cores_cpus_and_quota(tmp_path: Path) -> None:
    """The capacity is min(max_cores, CPUs available, cgroup quota)."""
    assert _probe(tmp_path, cores=1.0, cpu_count=8)[0].cores == 1.0
    assert _probe(tmp_path, cores=4.0, cpu_count=2)[0].cores == 2.0
    _write(tmp_path / "cpu.max", "25000 100000")
    assert _probe(tmp_path, cores=4.0, cpu_count=8)[0].cores == 0.25


def test_default_cpu_count_is_used(tmp_path: Path) -> None:
    """Without cpu_count, the affinity mask bounds the capacity (at least one CPU)."""
    probe = ProcessCpuProbe(cgroup_root=tmp_path, max_cores=10_000.0, clock=MockClock())
    assert 1.0 <= probe.cores < 10_000.0


def test_starts_at_zero(tmp_path: Path) -> None:
    """Before any sample the usage is 0."""
    assert _probe(tmp_path)[0].usage() == 0


def test_ewma_converges_with_decay(tmp_path: Path) -> None:
    """A fully busy core moves the EWMA by (1 - 0.95) of the gap each sample: 1000 * (1 - 0.95**k)."""
    probe, cpu, clock = _probe(tmp_path)
    for k in range(1, 61):
        clock.jump(0.25)
        cpu.seconds += 0.25
        assert probe.sample() == round(1000 * (1 - 0.95**k))
    assert probe.usage() == round(1000 * (1 - 0.95**60))


def test_ewma_decays_when_idle(tmp_path: Path) -> None:
    """Once the process goes idle, usage decays geometrically towards 0."""
    probe, cpu, clock = _probe(tmp_path, decay=0.5)
    clock.jump(1.0)
    cpu.seconds += 1.0
    assert probe.sample() == 500
    clock.jump(1.0)
    assert probe.sample() == 250
    clock.jump(1.0)
    assert probe.sample() == 125


def test_zero_decay_follows_the_raw_sample(tmp_path: Path) -> None:
    """With decay 0 the usage is the last interval's share of the cap."""
    probe, cpu, clock = _probe(tmp_path, decay=0.0)
    clock.jump(0.5)
    cpu.seconds += 0.1
    assert probe.sample() == 200


def test_usage_is_relative_to_the_quota(tmp_path: Path) -> None:
    """Under a half-core quota, a quarter of a core is 500 permille."""
    _write(tmp_path / "cpu.max", "50000 100000")
    probe, cpu, clock = _probe(tmp_path, decay=0.0)
    clock.jump(1.0)
    cpu.seconds += 0.25
    assert probe.sample() == 500


def test_usage_is_clamped_to_1000(tmp_path: Path) -> None:
    """Using more than the cap (several threads) still reads as 1000."""
    probe, cpu, clock = _probe(tmp_path, decay=0.0)
    clock.jump(1.0)
    cpu.seconds += 3.0
    assert probe.sample() == 1000


def test_sample_without_elapsed_time_changes_nothing(tmp_path: Path) -> None:
    """A sample at the same instant as the last one is ignored (no division by zero)."""
    probe, cpu, _ = _probe(tmp_path, decay=0.0)
    cpu.seconds += 1.0
    assert probe.sample() == 0


def test_start_and_stop_are_idempotent(tmp_path: Path) -> None:
    """start() twice runs one thread; stop() twice is harmless."""
    probe = ProcessCpuProbe(interval=3600, clock=MockClock(), cgroup_root=tmp_path)
    seen = [probe.running]
    probe.start()
    probe.start()
    seen.append(probe.running)
    probe.stop()
    probe.stop()
    seen.append(probe.running)
    assert seen == [False, True, False]


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    """`with probe:` runs the sampling thread for the duration of the block."""
    with ProcessCpuProbe(interval=3600, clock=MockClock(), cgroup_root=tmp_path) as probe:
        assert probe.running
        assert "running=True" in repr(probe)
    assert not probe.running


def test_probes_satisfy_protocol(tmp_path: Path) -> None:
    """ProcessCpuProbe and FixedCpuProbe are CpuProbes."""
    assert isinstance(_probe(tmp_path)[0], CpuProbe)
    assert isinstance(FixedCpuProbe(), CpuProbe)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 0}, "interval must be > 0"),
        ({"decay": 1.0}, r"decay must be in \[0, 1\)"),
        ({"decay": -0.1}, r"decay must be in \[0, 1\)"),
        ({"max_cores": 0}, "max_cores must be > 0"),
        ({"cpu_count": 0}, "cpu_count must be >= 1"),
    ],
)
def test_process_probe_rejects_bad_configuration(kwargs: dict[str, object], message: str) -> None:
    """Invalid probe configuration fails at construction with a precise message."""
    with pytest.raises(ValueError, match=message):
        ProcessCpuProbe(clock=MockClock(), **kwargs)  # type: ignore[arg-type]


# --- FixedCpuProbe ------------------------------------------------------------------------------


def test_fixed_probe_reports_its_value() -> None:
    """FixedCpuProbe returns what it was given, and what it is set to."""
    probe = FixedCpuProbe(300)
    assert probe.usage() == 300
    probe.value = 950
    assert (probe.usage(), repr(probe)) == (950, "FixedCpuProbe(950)")


@pytest.mark.parametrize("value", [-1, 1001])
def test_fixed_probe_rejects_out_of_range(value: int) -> None:
    """FixedCpuProbe only takes permille in [0, 1000]."""
    with pytest.raises(ValueError, match=r"usage must be in \[0, 1000\]"):
        FixedCpuProbe(value)


def test_rise_weight_makes_the_signal_rise_faster_than_it_falls() -> None:
    """With rise < decay, a busy sample moves the average more than an idle one."""
    clock = MockClock()
    cpu = [0.0]
    probe = ProcessCpuProbe(
        interval=0.05, decay=0.5, rise=0.2, clock=clock, read_cpu_seconds=lambda: cpu[0], cpu_count=1
    )
    clock.jump(0.05)
    cpu[0] += 0.05  # a fully busy 50 ms
    up = probe.sample()
    assert up == 800  # 0.2 * 0 + 0.8 * 1000
    clock.jump(0.05)  # an idle 50 ms
    assert probe.sample() == 400  # 0.5 * 800 + 0.5 * 0


def test_rise_must_be_a_weight() -> None:
    """rise outside [0, 1) is refused."""
    with pytest.raises(ValueError, match="rise must be in"):
        ProcessCpuProbe(rise=1.0)
