"""``seawall demo``: one short run shows every behaviour its summary claims; errors and exit codes."""

from __future__ import annotations

import io
import math
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from seawall.cli import _demo as demo_module
from seawall.cli import app
from seawall.cli._demo import DemoError, DemoResult, percentile, run_demo
from seawall.cli._demo_services import ABUSER, PHASES, Settings, free_ports

REPO = Path(__file__).resolve().parents[2]
SEAWALL = Path(sys.executable).parent / "seawall"
DURATION = 5.0


@pytest.fixture(scope="module")
def demo() -> tuple[DemoResult, str]:
    """One 5-second run, in this process; its result and everything it printed."""
    out = io.StringIO()
    result = run_demo(DURATION, console=Console(file=out, width=120, highlight=False))
    return result, out.getvalue()


def test_every_phase_runs_in_order(demo: tuple[DemoResult, str]) -> None:
    """The five phases run in order, each for a fifth of the duration, and each sends traffic."""
    result, _ = demo
    assert [r.phase.key for r in result.phases] == [p.key for p in PHASES]
    for i, r in enumerate(result.phases):
        assert math.isclose(r.start, i * DURATION / 5)
        assert r.tally.sent > 0, r.phase.key


def test_no_request_fails(demo: tuple[DemoResult, str]) -> None:
    """No 504, 5xx or transport error reaches a user in any phase: only 429s and 503s refuse."""
    result, _ = demo
    total = result.total()
    assert total.s504 == 0
    assert total.failed == 0
    assert max(total.latencies) < Settings().route_timeout + 0.25


def test_steady_answers_everything_in_full(demo: tuple[DemoResult, str]) -> None:
    """Steady traffic is answered in full."""
    steady = demo[0].phase("steady").tally
    assert steady.ok == steady.sent


def test_spike_rate_limits_the_abuser_only(demo: tuple[DemoResult, str]) -> None:
    """During the spike, most of mallory's requests get 429 and no other user's does."""
    spike = demo[0].phase("spike")
    assert spike.tally.abuser_429 > spike.tally.abuser_sent / 2
    assert spike.tally.regular_429 == 0
    assert spike.figures.refused("rate_limit") > 0


def test_spike_bulkhead_sheds_and_bounds_latency(demo: tuple[DemoResult, str]) -> None:
    """The spike overloads inventory: the gateway's bulkhead turns requests away with 503, and the
    full answers stay well inside the route's deadline."""
    spike = demo[0].phase("spike")
    assert spike.tally.s503 > 0
    assert spike.figures.refused("bulkhead") > 0
    p99 = percentile(spike.tally.full_latencies, 0.99)
    assert p99 is not None
    assert p99 < Settings().route_timeout / 2


def test_failing_instance_is_hidden_by_retries_and_ejection(demo: tuple[DemoResult, str]) -> None:
    """While inventory #1 answers 500, users get full answers: retries on another instance and
    outlier ejection absorb the failures."""
    failing = demo[0].phase("failing")
    assert failing.tally.ok == failing.tally.sent
    assert failing.figures.retries > 0
    assert failing.figures.ejections > 0


def test_outage_opens_the_breaker_and_degrades_fast(demo: tuple[DemoResult, str]) -> None:
    """With every inventory instance hanging, the breaker opens and the fallback answers at
    once: degraded answers marked CIRCUIT_OPEN, median latency far below the call timeout."""
    outage = demo[0].phase("outage")
    assert "open" in [state for _, state in outage.breaker]
    assert outage.figures.transitions > 0
    assert outage.tally.degraded > outage.tally.sent / 2
    assert outage.tally.reasons["CIRCUIT_OPEN"] > 0
    p50 = percentile(outage.tally.latencies, 0.5)
    assert p50 is not None
    assert p50 < Settings().call_timeout


def test_recovery_closes_the_breaker(demo: tuple[DemoResult, str]) -> None:
    """Once inventory is back, a half-open probe closes the breaker and answers are full again."""
    result, _ = demo
    late = result.phase("outage").breaker + result.phase("recovery").breaker
    assert late[-1][1] == "closed"
    assert result.phase("recovery").figures.breaker == "closed"
    recovery = result.phase("recovery").tally
    assert recovery.ok > recovery.sent / 2


def test_call_loop_is_refused_with_508(demo: tuple[DemoResult, str]) -> None:
    """A request into the gateway -> catalog -> gateway loop is answered 508 LOOP_DETECTED."""
    assert demo[0].loop == (508, "LOOP_DETECTED")


def test_summary_names_every_phase(demo: tuple[DemoResult, str]) -> None:
    """The output has a line per second, both summary tables and a sentence per phase."""
    _, text = demo
    assert "What users got" in text
    assert "What seawall did" in text
    assert "What happened" in text
    for phase in PHASES:
        assert f"\n{phase.key} " in text
    assert f"{ABUSER}'s" in text
    assert text.count("closed\n") + text.count("open\n") >= 4  # the per-second lines


def test_taken_port_is_a_one_line_error() -> None:
    """A port that cannot be bound stops the demo with DemoError naming the service and port."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        others = [p for p in free_ports(5) if p != port][:4]
        with pytest.raises(DemoError, match=rf"^cannot serve gateway on 127\.0\.0\.1:{port}: [^\n]+$"):
            run_demo(3, console=Console(file=io.StringIO()), ports=[port, *others])


def test_command_exits_1_with_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """``seawall demo`` prints a DemoError on one line and exits 1."""

    def fail(duration: float) -> DemoResult:
        raise DemoError("cannot serve gateway on 127.0.0.1:1: Address already in use")

    monkeypatch.setattr(demo_module, "run_demo", fail)
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 1
    assert result.stderr == "seawall demo: cannot serve gateway on 127.0.0.1:1: Address already in use\n"


@pytest.mark.parametrize("duration", ["2.9", "601", "nan"])
def test_duration_out_of_range_is_refused(duration: str) -> None:
    """``--duration`` outside 3..600 seconds is a usage error (exit 2)."""
    result = CliRunner().invoke(app, ["demo", "--duration", duration])
    assert result.exit_code == 2


@pytest.mark.parametrize("duration", [2.9, 601.0, math.nan, math.inf])
def test_run_demo_refuses_durations_out_of_range(duration: float) -> None:
    """run_demo checks its duration before starting anything."""
    with pytest.raises(ValueError, match="duration must be between 3 and 600 seconds"):
        run_demo(duration)


@given(st.lists(st.floats(min_value=0, max_value=1e3), min_size=1), st.floats(min_value=0.01, max_value=1))
def test_percentile_is_nearest_rank(values: list[float], q: float) -> None:
    """The q-quantile is one of the values, with at least q of them at or below it and fewer
    than q strictly below."""
    p = percentile(values, q)
    assert p in values
    assert sum(v <= p for v in values) >= q * len(values)
    assert sum(v < p for v in values) < q * len(values)


@pytest.mark.integration
def test_console_script_runs_and_exits_0() -> None:
    """``seawall demo --duration 3`` as a process: exit 0 and the summary on stdout."""
    done = subprocess.run(
        [str(SEAWALL), "demo", "--duration", "3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "What happened" in done.stdout
    assert done.stderr == ""
