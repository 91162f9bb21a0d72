"""Histogram helpers shared by the runtime monitors: bucket validation and exposition."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

__all__ = ["check_buckets", "cumulative"]


def check_buckets(buckets: Sequence[float]) -> tuple[float, ...]:
    """``buckets`` as a tuple of floats; raises ValueError unless finite, > 0 and strictly increasing."""
    bounds = tuple(float(b) for b in buckets)
    if not bounds:
        raise ValueError("buckets must not be empty")
    if not all(math.isfinite(b) and b > 0 for b in bounds):
        raise ValueError("buckets must be finite and > 0")
    if any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError("buckets must be strictly increasing")
    return bounds


def cumulative(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    """Per-bucket ``counts`` (``+Inf`` last) as Prometheus' cumulative ``(le, count)`` pairs."""
    out = []
    total = 0
    for bound, n in zip((*bounds, math.inf), counts, strict=True):
        total += n
        out.append(("+Inf" if bound == math.inf else repr(bound), float(total)))
    return out
