"""seawall's default chain with tracing on and no request sampled (ratio 0, no traceparent):
what tracing costs the requests it does not trace (a header scan and a ratio check)."""

from __future__ import annotations

from bench.apps._tracing import traced_hello

service = traced_hello("bench-traced-unsampled", sample_ratio=0.0)
