"""Tests for the process reader and the cgroup memory limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.observe.runtime_support import write

from seawall.observe import ProcessReader, read_cgroup_memory_limit


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
    write(tmp_path / "memory.max", content)
    assert read_cgroup_memory_limit(tmp_path) == limit


@pytest.mark.parametrize("subdir", [".", "memory"])
def test_cgroup_v1_memory_limit(tmp_path: Path, subdir: str) -> None:
    """cgroup v1 memory.limit_in_bytes is read from the root or the memory controller dir."""
    write(tmp_path / subdir / "memory.limit_in_bytes", "1073741824\n")
    assert read_cgroup_memory_limit(tmp_path) == 1 << 30


def test_cgroup_v1_unlimited_memory(tmp_path: Path) -> None:
    """v1's page-aligned LONG_MAX (its "no limit") is no limit."""
    write(tmp_path / "memory.limit_in_bytes", "9223372036854771712\n")
    assert read_cgroup_memory_limit(tmp_path) is None


def test_cgroup_v2_wins_over_v1(tmp_path: Path) -> None:
    """When both files exist, the v2 file decides (even when it says no limit)."""
    write(tmp_path / "memory.max", "max")
    write(tmp_path / "memory.limit_in_bytes", "1073741824")
    assert read_cgroup_memory_limit(tmp_path) is None


def test_no_memory_cgroup_means_no_limit(tmp_path: Path) -> None:
    """Without any cgroup file there is no limit."""
    assert read_cgroup_memory_limit(tmp_path / "missing") is None


def test_real_process_reader_reads_this_process() -> None:
    """The psutil reader sees CPU time, resident memory and open descriptors of this process."""
    sample = ProcessReader()()
    assert sample is not None
    assert sample.cpu_seconds > 0
    assert sample.resident_bytes > 1 << 20
    assert sample.open_fds is not None
    assert sample.open_fds >= 3
