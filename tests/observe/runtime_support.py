"""Helpers of the runtime-metrics tests: a fake process reader, a collector, a scrape."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from seawall.observe import GcMonitor, ProcessSample, RuntimeCollector
from seawall.testing import MockClock

FAKE = ProcessSample(cpu_seconds=12.5, resident_bytes=50_000_000, open_fds=17, max_fds=1024)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def collector(tmp_path: Path, **kwargs: object) -> RuntimeCollector:
    """A collector reading :data:`FAKE`, an empty cgroup, 8 CPUs and 16 GiB."""
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


def monitor_collect(
    monitor: GcMonitor, clock: MockClock, generation: int, pause: float, collected: int = 0
) -> None:
    """One collection of ``generation`` taking ``pause`` seconds on ``clock``."""
    monitor.callback("start", {"generation": generation, "collected": 0, "uncollectable": 0})
    clock.jump(pause)
    monitor.callback("stop", {"generation": generation, "collected": collected, "uncollectable": 1})
