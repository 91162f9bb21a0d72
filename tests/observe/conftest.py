"""Fixtures for the observe tests: a hermetic environment, an in-memory span exporter and
tracing built on it."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _hermetic_service_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``Service`` reads ``SEAWALL_*`` and ``startup()`` reads ``./seawall.yaml``; give it neither."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("SEAWALL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def span_exporter() -> Iterator[Any]:
    """An OpenTelemetry ``InMemorySpanExporter``: ``get_finished_spans()`` lists ended spans."""
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    exporter = memory.InMemorySpanExporter()
    yield exporter
    exporter.clear()


@pytest.fixture
def make_tracing(span_exporter: Any) -> Callable[..., Any]:
    """Build a :class:`seawall.observe.Tracing` that exports synchronously to ``span_exporter``."""
    from seawall.observe import Tracing

    def make(sample_ratio: float = 1.0, seed: int = 0, **kwargs: Any) -> Tracing:
        return Tracing(
            service_name="svc",
            sample_ratio=sample_ratio,
            exporter=span_exporter,
            batch=False,
            rng=random.Random(seed),
            **kwargs,
        )

    return make
