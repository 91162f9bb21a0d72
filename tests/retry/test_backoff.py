"""Tests for seawall.retry.Backoff (AWS "Full Jitter")."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.retry import Backoff


class _Top(random.Random):
    """An rng whose uniform(a, b) always draws b, to read the ceiling through delay()."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_ceiling_doubles_up_to_the_cap() -> None:
    """The ceiling is min(cap, base * 2**attempt): 50 ms, 100, 200, 400, 800 ms, then 1 s."""
    backoff = Backoff(base=0.05, cap=1.0)
    assert [backoff.ceiling(n) for n in range(7)] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_delay_draws_uniformly_up_to_the_ceiling() -> None:
    """delay() is rng.uniform(0, ceiling): an rng drawing the top returns the ceiling itself."""
    backoff = Backoff(base=0.05, cap=1.0, rng=_Top())
    assert [backoff.delay(n) for n in range(7)] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_full_jitter_spans_the_whole_range() -> None:
    """Full jitter: over many seeded draws the delays reach both ends of [0, ceiling]."""
    backoff = Backoff(base=0.1, cap=10.0, rng=random.Random(1))
    delays = [backoff.delay(3) for _ in range(2000)]
    assert min(delays) < 0.01
    assert max(delays) > 0.79
    assert sum(delays) / len(delays) == pytest.approx(0.4, rel=0.05)


def test_same_seed_same_delays() -> None:
    """A seeded rng makes the delays reproducible."""
    a = Backoff(rng=random.Random(42))
    b = Backoff(rng=random.Random(42))
    assert [a.delay(n) for n in range(10)] == [b.delay(n) for n in range(10)]


def test_within_caps_the_delay() -> None:
    """within= lowers the ceiling to the time available."""
    backoff = Backoff(base=0.05, cap=1.0, rng=_Top())
    assert backoff.delay(4, within=0.3) == 0.3
    assert backoff.delay(0, within=0.3) == 0.05


@pytest.mark.parametrize("within", [0.0, -1.0, math.nan])
def test_no_time_no_wait(within: float) -> None:
    """With no time left (or a NaN), the delay is 0."""
    backoff = Backoff(rng=_Top())
    assert backoff.delay(2, within=within) == 0.0


def test_huge_attempt_is_the_cap() -> None:
    """A very high attempt number gives the cap rather than overflowing."""
    backoff = Backoff(base=0.05, cap=2.0)
    assert backoff.ceiling(10_000) == 2.0


def test_negative_attempt_is_rejected() -> None:
    """attempt counts retries made, so it cannot be negative."""
    with pytest.raises(ValueError, match="attempt must be >= 0"):
        Backoff().delay(-1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": 0}, "base must be > 0 and finite"),
        ({"base": math.inf}, "base must be > 0 and finite"),
        ({"base": math.nan}, "base must be > 0 and finite"),
        ({"cap": 0}, "cap must be > 0 and finite"),
        ({"cap": math.nan}, "cap must be > 0 and finite"),
        ({"base": 2.0, "cap": 1.0}, "cap must be >= base"),
    ],
)
def test_rejects_invalid_config(kwargs: dict[str, float], message: str) -> None:
    """Invalid configuration fails at construction with a precise message."""
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]


@given(
    seed=st.integers(min_value=0, max_value=2**32),
    attempt=st.integers(min_value=0, max_value=80),
    base=st.floats(min_value=1e-4, max_value=1.0),
    factor=st.floats(min_value=1.0, max_value=1000.0),
    within=st.none() | st.floats(min_value=-1.0, max_value=100.0),
)
def test_delay_within_bounds(
    seed: int, attempt: int, base: float, factor: float, within: float | None
) -> None:
    """0 <= delay <= min(cap, base * 2**attempt), and <= within when given."""
    cap = base * factor
    backoff = Backoff(base=base, cap=cap, rng=random.Random(seed))
    delay = backoff.delay(attempt, within=within)
    assert 0.0 <= delay <= min(cap, base * 2.0**attempt), seed
    if within is not None:
        assert delay <= max(0.0, within), seed
