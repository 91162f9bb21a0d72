"""``seawall demo``: one short run shows every behaviour its summary claims; errors and exit codes."""

from __future__ import annotations

import io
import json
import math
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
DURATION = 5.0

# The run whose behaviour is checked happens in a child process: under the suite's coverage
# tracer this process runs Python several times slower, and the demo's single event loop would
# then be CPU-bound (which it shows honestly, but it is not what its summary is checked for).
CHILD = """
import json, sys
from rich.console import Console
from seawall.cli._demo import percentile, run_demo

result = run_demo(float(sys.argv[1]), console=Console(width=120, highlight=False))
phases = {}
for r in result.phases:
    t, f = r.tally, r.figures
    phases[r.phase.key] = {
        "start": r.start,
        "sent": t.sent, "ok": t.ok, "degraded": t.degraded, "abuser_sent": t.abuser_sent,
        "abuser_429": t.abuser_429, "regular_429": t.regular_429, "s503": t.s503, "s504": t.s504,
        "failed": t.failed, "reasons": dict(t.reasons), "max": max(t.latencies, default=0.0),
        "p50": percentile(t.latencies, 0.5), "full_p99": percentile(t.full_latencies, 0.99),
        "retries": f.retries, "ejections": f.ejections, "transitions": f.transitions,
        "rate_limited": f.refused("rate_limit"), "bulkhead": f.refused("bulkhead"),
        "breaker": f.breaker, "transitions_seen": r.breaker,
    }
print("RESULT " + json.dumps({"phases": phases, "loop": result.loop}))
"""


@dataclass(frozen=True)
class Demo:
    """What a run printed, and its figures per phase."""

    phases: dict[str, dict[str, Any]]
    loop: list[Any] | None
    text: str


@pytest.fixture(scope="module")
def demo() -> Demo:
    """One 5-second run of run_demo in a child process."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(DURATION)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text, _, last = done.stdout.rstrip("\n").rpartition("\n")
    assert last.startswith("RESULT "), done.stdout
    found = json.loads(last.removeprefix("RESULT "))
    return Demo(found["phases"], found["loop"], text)


def test_every_phase_runs_in_order(demo: Demo) -> None:
    """The five phases run in order, each for a fifth of the duration, and each sends traffic."""
    assert list(demo.phases) == [p.key for p in PHASES]
    for i, phase in enumerate(demo.phases.values()):
        assert math.isclose(phase["start"], i * DURATION / 5)
        assert phase["sent"] > 0


def test_no_request_fails(demo: Demo) -> None:
    """No 504, 5xx or transport error reaches a user in any phase (only 429s and 503s refuse),
    and every answer comes within the route's deadline."""
    for key, phase in demo.phases.items():
        assert phase["s504"] == phase["failed"] == 0, key
        assert phase["max"] < Settings().route_timeout, key


def test_steady_answers_everything_in_full(demo: Demo) -> None:
    """Steady traffic is answered in full."""
    steady = demo.phases["steady"]
    assert steady["ok"] == steady["sent"]


def test_spike_rate_limits_the_abuser_only(demo: Demo) -> None:
    """During the spike, most of mallory's requests get 429 and no other user's does."""
    spike = demo.phases["spike"]
    assert spike["abuser_429"] > spike["abuser_sent"] / 2
    assert spike["regular_429"] == 0
    assert spike["rate_limited"] > 0


def test_spike_bulkhead_sheds_and_bounds_latency(demo: Demo) -> None:
    """The spike overloads inventory: the gateway's bulkhead turns requests away with 503, and
    the full answers stay well inside the route's deadline."""
    spike = demo.phases["spike"]
    assert spike["s503"] > 0
    assert spike["bulkhead"] > 0
    assert spike["full_p99"] < Settings().route_timeout / 2


def test_failing_instance_is_hidden_by_retries_and_ejection(demo: Demo) -> None:
    """While inventory #1 answers 500, users get full answers, no 5xx: retries on another
    instance and outlier ejection absorb the failures."""
    failing = demo.phases["failing"]
    assert failing["ok"] == failing["sent"]
    assert failing["retries"] > 0
    assert failing["ejections"] > 0


def test_outage_opens_the_breaker_and_degrades_fast(demo: Demo) -> None:
    """With every inventory instance hanging, the breaker opens and the fallback answers at
    once: mostly degraded answers, marked CIRCUIT_OPEN, median latency far below the call
    timeout."""
    outage = demo.phases["outage"]
    assert "open" in [state for _, state in outage["transitions_seen"]]
    assert outage["transitions"] > 0
    assert outage["degraded"] > outage["sent"] / 2
    assert outage["reasons"]["CIRCUIT_OPEN"] > 0
    assert outage["p50"] < Settings().call_timeout / 2


def test_recovery_closes_the_breaker(demo: Demo) -> None:
    """Once inventory is back, a half-open probe closes the breaker and answers are full again."""
    late = demo.phases["outage"]["transitions_seen"] + demo.phases["recovery"]["transitions_seen"]
    assert late[-1][1] == "closed"
    recovery = demo.phases["recovery"]
    assert recovery["breaker"] == "closed"
    assert recovery["ok"] > recovery["sent"] / 2


def test_call_loop_is_refused_with_508(demo: Demo) -> None:
    """A request into the gateway -> catalog -> gateway loop is answered 508 LOOP_DETECTED."""
    assert demo.loop == [508, "LOOP_DETECTED"]


def test_output_has_lines_tables_and_a_sentence_per_phase(demo: Demo) -> None:
    """The output has a line per second, both summary tables and a sentence per phase."""
    assert "What users got" in demo.text
    assert "What seawall did" in demo.text
    assert "What happened" in demo.text
    for phase in PHASES:
        assert f"\n{phase.key} " in demo.text
    assert f"{ABUSER}'s" in demo.text
    assert len(re.findall(r"^ +\d+s +\d+ ", demo.text, re.MULTILINE)) == DURATION


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


def test_command_runs_and_exits_0() -> None:
    """``seawall demo --duration 3`` (in this process, however slow the tracer makes it) exits 0
    after printing its summary."""
    result = CliRunner().invoke(app, ["demo", "--duration", "3"])
    assert result.exit_code == 0, result.output
    assert "What happened" in result.stdout
    assert result.stderr == ""
