"""The outcome an exit receives."""

from __future__ import annotations

from seawall.governance import Outcome


def test_outcome_latency_failure_and_equality() -> None:
    """Latency is end - start; error and timeout count as failed; equal fields compare equal."""
    ok = Outcome(200, "ok", 1.0, 1.25)
    assert ok.latency == 0.25
    assert not ok.failed
    assert Outcome(504, "timeout", 0.0, 1.0, "DEADLINE_EXCEEDED").failed
    assert Outcome(500, "error", 0.0, 1.0).failed
    assert not Outcome(429, "rejected", 0.0, 0.0, "RATE_LIMITED").failed
    assert ok == Outcome(200, "ok", 1.0, 1.25)
    assert ok != Outcome(200, "ok", 1.0, 1.5)
    assert ok != "ok"
    assert "latency=0.250000" in repr(ok)
