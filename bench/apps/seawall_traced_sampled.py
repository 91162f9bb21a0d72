"""seawall's default chain with every request traced (ratio 1): a SERVER span per request,
exported in batches to a null exporter."""

from __future__ import annotations

from bench.apps._tracing import traced_hello

service = traced_hello("bench-traced-sampled", sample_ratio=1.0)
