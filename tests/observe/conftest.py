"""Fixtures for the observe tests: an in-memory span exporter and tracing built on it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest


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
