"""Overload benchmark: does a service stay useful when offered three times what it can serve?

Two families of targets, each serving ``GET /work`` -> ``{"ok": true}`` on the same server (granian,
ASGI, one worker), one target at a time:

CPU-bound (~2 ms of CPU per request, ~450 req/s on one core):

- ``seawall_shed``: ``examples.overload:service``, default chain + adaptive shedding + queue-delay
  admission (reference);
- ``seawall_noshed``: the same handler, default chain only;
- ``fastapi``: FastAPI with the same handler;
- ``seawall_priority_cpu``: the reference with traffic classes ordering its adaptive LIFO; 20 % of
  the requests carry ``x-priority: critical`` (``bench/apps/seawall_overload_priority_cpu.py``).

Bound by a shared resource (8 concurrent users x 20 ms: ~400 req/s, CPU mostly idle):

- ``seawall_io``: ``examples.overload_io:service``, default chain + adaptive concurrency (reference);
- ``seawall_io_plain``: the same handler with the default chain only: no limit, but the handlers of
  clients that gave up are cancelled (499) instead of holding the resource for nobody;
- ``fastapi_io``: FastAPI with the same handler;
- ``seawall_priority``: the io handler with traffic classes; 20 % of the requests carry
  ``x-priority: critical`` (``bench/apps/seawall_overload_priority.py``).

Per target:

1. capacity ``C`` (references always; others only in full runs): in its own server process,
   closed loop with wrk (few connections, so queues stay short), 2xx per second. The process is
   then stopped, so no shedding state carries over into the reference latency.
2. in a fresh server process: a short warm-up at the unloaded rate (discarded), then the unloaded
   latency (open loop at 0.3 x C_ref), then the overload (open loop at 3 x C_ref with a 1 s client
   deadline, ``bench/_loadgen.py``): arrivals follow a fixed timetable whatever the server does, and a
   request not answered within the deadline is abandoned, as impatient clients do.
3. in another fresh server process: half of C_ref with **Poisson** arrivals (seeded, the same in
   every run): bursts but no overload. What a target refuses here is its overload controllers'
   false alarms (reported, no floor).

``C_ref`` is the capacity of the family's reference, so every target of a family faces the same
arrival rate. Every phase reports absolute p50/p99 beside the ratios; the overload phase also
reports the requests sent in its first second (*onset*, before any controller has reacted) and
those sent after its second second (*steady*) separately. A phase whose generator lag p99 exceeds
``LAG_LIMIT_MS`` (the generator's CPU was disturbed, so the offered timetable was not kept) is redone
once and, if still disturbed, marked invalid: a floor computed from it shows ``INVALID``, never
``PASS``. The generator and the server are pinned to different CPUs with taskset when possible.

    .venv/bin/python bench/overload.py --quick      # < 2 min (8 s of overload per target)
    .venv/bin/python bench/overload.py              # 30 s of overload per target

Floors (printed with PASS/FAIL/INVALID, never turned into the exit status), from the overload
issue: ``seawall_shed`` goodput >= 0.90 C, onset p99 <= 3x and steady p99 <= 2x the unloaded
p99; ``seawall_io`` goodput >= 0.90 C, onset and steady p99 <= 3x; ``seawall_priority`` and
``seawall_priority_cpu``: priority goodput >= 95 % of its offered rate and total goodput
>= 0.90 C. The last stdout line is one JSON object with all figures. The exit status is non-zero
only when the harness fails.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from _harness import (
    HOST,
    PYTHON,
    HarnessError,
    Pinning,
    Server,
    Target,
    WrkResult,
    WrkSettings,
    describe_machine,
    describe_server,
    detect_pinning,
    emit_json,
    machine_info,
    measure_cpu,
    note,
    print_table,
    print_total,
    run_wrk,
)

LOADGEN: Final = Path(__file__).with_name("_loadgen.py")
OK_BODY: Final = {"ok": True}
PRIORITY_HEADER: Final = "x-priority: critical"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A target, the family whose C_ref it is offered, and the share of priority requests."""

    target: Target
    family: str
    reference: bool = False
    priority_fraction: float = 0.0

    @property
    def name(self) -> str:
        return self.target.name


def _target(name: str, app: str, label: str) -> Target:
    return Target(name, app, label, path="/work", expect_json=OK_BODY)


SCENARIOS: Final = (
    Scenario(
        _target(
            "seawall_shed", "examples.overload:service", "seawall, shedding + queue_delay (examples.overload)"
        ),
        "cpu",
        reference=True,
    ),
    Scenario(
        _target("seawall_noshed", "bench.apps.seawall_overload_noshed:service", "seawall, default chain"),
        "cpu",
    ),
    Scenario(_target("fastapi", "bench.apps.fastapi_overload:app", "FastAPI"), "cpu"),
    Scenario(
        _target(
            "seawall_priority_cpu",
            "bench.apps.seawall_overload_priority_cpu:service",
            "seawall cpu + priority classes, 20 % critical",
        ),
        "cpu",
        priority_fraction=0.2,
    ),
    Scenario(
        _target(
            "seawall_io",
            "examples.overload_io:service",
            "seawall, adaptive_concurrency (examples.overload_io)",
        ),
        "io",
        reference=True,
    ),
    Scenario(
        _target(
            "seawall_io_plain",
            "bench.apps.seawall_overload_io_plain:service",
            "seawall io handler, default chain (departure watch only)",
        ),
        "io",
    ),
    Scenario(_target("fastapi_io", "bench.apps.fastapi_overload_io:app", "FastAPI, io handler"), "io"),
    Scenario(
        _target(
            "seawall_priority",
            "bench.apps.seawall_overload_priority:service",
            "seawall io + priority classes, 20 % critical",
        ),
        "io",
        priority_fraction=0.2,
    ),
)
FAMILIES: Final = {"cpu": "~2 ms CPU", "io": "8-wide resource x 20 ms"}

#: wrk connections for the capacity run: enough to keep one worker (or the 8-wide resource) busy,
#: few enough that shedders and queues stay out of the way.
CAPACITY_CONNS: Final = {"cpu": 8, "io": 12}
UNLOADED_FACTOR: Final = 0.3
#: The false-alarm phase: half the capacity, Poisson arrivals (bursts, but no overload).
HALF_FACTOR: Final = 0.5
POISSON_SEED: Final = 1
SCRAPE_TIMEOUT_S: Final = 2.0
#: A phase whose generator lag p99 is above this was disturbed (its timetable was not kept).
LAG_LIMIT_MS: Final = 5.0


@dataclass(frozen=True, slots=True)
class Plan:
    warmup_s: int
    capacity_s: int
    rest_warmup_s: float
    unloaded_s: float
    overload_s: float
    factor: float
    deadline_s: float
    max_conns: int
    all_capacities: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "warmup_s": self.warmup_s,
            "capacity_s": self.capacity_s,
            "capacity_conns": CAPACITY_CONNS,
            "rest_warmup_s": self.rest_warmup_s,
            "unloaded_s": self.unloaded_s,
            "unloaded_factor": UNLOADED_FACTOR,
            "overload_s": self.overload_s,
            "overload_factor": self.factor,
            "deadline_s": self.deadline_s,
            "max_conns": self.max_conns,
            "lag_limit_ms": LAG_LIMIT_MS,
            "all_capacities": self.all_capacities,
        }


QUICK_PLAN: Final = Plan(1, 2, 1.0, 2.0, 8.0, 3.0, 1.0, 4000, all_capacities=False)
FULL_PLAN: Final = Plan(3, 10, 2.0, 10.0, 30.0, 3.0, 1.0, 4000, all_capacities=True)


@dataclass(slots=True)
class Result:
    scenario: Scenario
    status: str = "ok"
    reason: str = ""
    capacity: WrkResult | None = None
    unloaded: dict[str, Any] | None = None
    overload: dict[str, Any] | None = None
    half: dict[str, Any] | None = None  # half load, Poisson arrivals: what is refused below capacity
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def c_rps(self) -> float | None:
        """2xx per second in the closed-loop capacity run."""
        cap = self.capacity
        if cap is None or not cap.requests:
            return None
        return cap.rps * (cap.requests - cap.non_2xx) / cap.requests


# --------------------------------------------------------------------------------------------------
# measuring


class _Server(Server):
    """:class:`Server` that kills the process group at once on exit.

    After an overload run a target may hold a backlog of thousands of abandoned requests; a graceful
    stop would wait :data:`_harness.STOP_TIMEOUT_S` for it on every target, and draining a backlog is
    not what this benchmark measures.
    """

    def __exit__(self, *exc_info: object) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        super().__exit__(*exc_info)


def run_loadgen(
    url: str,
    *,
    rate: float,
    duration_s: float,
    plan: Plan,
    pinning: Pinning,
    priority_fraction: float = 0.0,
    poisson_seed: int | None = None,
) -> dict[str, Any]:
    """One open-loop run in a child process pinned to the client CPU; returns its JSON summary."""
    cmd = [
        *pinning.prefix("client"), PYTHON, str(LOADGEN), url, "--rate", f"{rate:.1f}",
        "--duration", str(duration_s), "--deadline", str(plan.deadline_s), "--max-conns", str(plan.max_conns),
        "--priority-fraction", str(priority_fraction), "--priority-header", PRIORITY_HEADER,
        *(["--poisson-seed", str(poisson_seed)] if poisson_seed is not None else []),
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + plan.deadline_s + 60)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"load generator did not finish: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        raise HarnessError(f"load generator failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise HarnessError(f"load generator printed nothing: {proc.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if result.get("warning"):
        note(f"    WARNING: {result['warning']}")
    return result


def _disturbed(run: dict[str, Any]) -> bool:
    return bool(run["lag_p99_ms"] > LAG_LIMIT_MS)


_METRIC_LINE: Final = re.compile(
    r"^(seawall_[a-z_]*(?:rejected|shed|in_flight|requests_total|limit|overloaded)[a-z_]*)"
    r"(\{[^}]*\})? (\S+)$"
)


def scrape_metrics(port: int) -> dict[str, float]:
    """Overload-related seawall metrics for the ``/work`` route (or route-less ones); {} on failure."""
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=SCRAPE_TIMEOUT_S)
        try:
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
    except OSError as exc:
        note(f"    /metrics not scraped within {SCRAPE_TIMEOUT_S:g}s ({exc!r}): server still busy?")
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = _METRIC_LINE.match(line)
        if match is None:
            continue
        name, labels, value = match.group(1), match.group(2) or "", match.group(3)
        if "route=" in labels and 'route="/work"' not in labels and 'route=""' not in labels:
            continue
        labels = (
            labels.replace('method="GET",', "").replace(',route="/work"', "").replace('route="/work"', "")
        )
        labels = labels.replace('{method="",route="",', "{").replace('{method="GET",', "{")
        key = name + ("" if labels in ("", "{}") else labels)
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


def measure_capacity(scenario: Scenario, *, server: str, plan: Plan, pinning: Pinning) -> WrkResult:
    """Closed-loop capacity of one target, in a server process of its own."""
    target = scenario.target
    conns = CAPACITY_CONNS[scenario.family]
    settings = WrkSettings(connections=conns, duration_s=plan.capacity_s, warmup_s=plan.warmup_s)
    with _Server(target, server=server, pinning=pinning) as srv:
        if plan.warmup_s:
            run_wrk(srv.url, settings, duration_s=plan.warmup_s, pinning=pinning)
        with measure_cpu(srv.pgid) as cpu:
            cap = run_wrk(srv.url, settings, duration_s=plan.capacity_s, pinning=pinning)
    cap = dataclasses.replace(cap, cpu=cpu[0])
    ok = cap.rps * (cap.requests - cap.non_2xx) / cap.requests if cap.requests else 0.0
    note(
        f"  {target.name:<16} C = {ok:,.0f} 2xx/s (wrk -c{conns}, p99 {cap.p99_ms:.1f} ms"
        + (f", non-2xx {cap.non_2xx}" if cap.non_2xx else "")
        + f"; server CPU {cpu[0].server:.2f}, others {cpu[0].foreign:.2f})"
    )
    return cap


def measure_load(result: Result, *, server: str, plan: Plan, pinning: Pinning, c_ref: float) -> None:
    """Unloaded latency, then overload, in a fresh (rested) server process."""
    scenario = result.scenario
    target = scenario.target
    low, high = UNLOADED_FACTOR * c_ref, plan.factor * c_ref
    fraction = scenario.priority_fraction
    t_start = time.monotonic()
    with _Server(target, server=server, pinning=pinning) as srv:
        if plan.rest_warmup_s:
            run_loadgen(srv.url, rate=low, duration_s=plan.rest_warmup_s, plan=plan, pinning=pinning)
        for attempt in (1, 2):
            unloaded = run_loadgen(
                srv.url, rate=low, duration_s=plan.unloaded_s, plan=plan, pinning=pinning,
                priority_fraction=fraction,
            )  # fmt: skip
            if not _disturbed(unloaded) or attempt == 2:
                break
            lag = unloaded["lag_p99_ms"]
            note(f"  {target.name:<16} unloaded run disturbed (lag p99 {lag:.1f} ms), redoing")
        unloaded["valid"] = not _disturbed(unloaded)
        result.unloaded = unloaded
        note(
            f"  {target.name:<16} unloaded ({low:,.0f}/s): p50 {_fmt(unloaded['p50_ms'], '.2f')} ms, "
            f"p99 {_fmt(unloaded['p99_ms'], '.2f')} ms, lag p99 {unloaded['lag_p99_ms']:.2f} ms"
            + ("" if unloaded["valid"] else "  INVALID")
        )
        with measure_cpu(srv.pgid) as cpu:
            overload = run_loadgen(
                srv.url, rate=high, duration_s=plan.overload_s, plan=plan, pinning=pinning,
                priority_fraction=fraction,
            )  # fmt: skip
        overload["server_cpu"] = round(cpu[0].server, 3)
        overload["foreign_cpu"] = round(cpu[0].foreign, 3)
        result.metrics = scrape_metrics(srv.port) if target.name.startswith("seawall") else {}
    if _disturbed(overload):
        # An overload run cannot be redone in the same process (the server is no longer rested):
        # redo the whole load phase once in a fresh one.
        note(f"  {target.name:<16} overload run disturbed (lag p99 {overload['lag_p99_ms']:.1f} ms)")
    overload["valid"] = not _disturbed(overload)
    result.overload = overload
    o = overload
    note(
        f"  {target.name:<16} overload ({high:,.0f}/s, sent {o['send_rps']:,.0f}/s): goodput "
        f"{o['goodput_rps']:,.0f}/s, p99 2xx {_fmt(o['p99_ms'], '.1f')} ms (onset "
        f"{_fmt(_get(o, 'onset', 'p99_ms'), '.1f')}, steady {_fmt(_get(o, 'steady', 'p99_ms'), '.1f')}), "
        f"503 {o['status_503']}, timeouts {o['timeouts']}, lag p99 {o['lag_p99_ms']:.2f} ms, "
        f"server CPU {o['server_cpu']:.2f}, others {o['foreign_cpu']:.2f}"
        + ("" if o["valid"] else "  INVALID")
        + f"; {time.monotonic() - t_start:.1f}s"
    )


def measure_half(result: Result, *, server: str, plan: Plan, pinning: Pinning, c_ref: float) -> None:
    """Half the capacity with Poisson arrivals, in a fresh server: how much is refused (false
    alarms of the overload controllers: bursts below capacity are not an overload)."""
    target = result.scenario.target
    rate = HALF_FACTOR * c_ref
    with _Server(target, server=server, pinning=pinning) as srv:
        if plan.rest_warmup_s:
            low = UNLOADED_FACTOR * c_ref
            run_loadgen(srv.url, rate=low, duration_s=plan.rest_warmup_s, plan=plan, pinning=pinning)
        half = run_loadgen(
            srv.url, rate=rate, duration_s=plan.unloaded_s, plan=plan, pinning=pinning,
            priority_fraction=result.scenario.priority_fraction, poisson_seed=POISSON_SEED,
        )  # fmt: skip
    half["valid"] = not _disturbed(half)
    result.half = half
    refused = half["sent"] - half["ok"]
    note(
        f"  {target.name:<16} half load, Poisson ({rate:,.0f}/s): not 2xx {refused} of {half['sent']} "
        f"({100 * refused / max(1, half['sent']):.2f} %), p99 {_fmt(half['p99_ms'], '.2f')} ms"
        + ("" if half["valid"] else "  INVALID")
    )


def measure(scenario: Scenario, *, server: str, plan: Plan, pinning: Pinning, c_ref: float | None) -> Result:
    result = Result(scenario)
    if scenario.reference or plan.all_capacities:
        result.capacity = measure_capacity(scenario, server=server, plan=plan, pinning=pinning)
        if not result.c_rps:
            raise HarnessError(f"{scenario.name}: capacity run got no 2xx answers")
    ref = c_ref if c_ref is not None else result.c_rps
    assert ref is not None
    for attempt in (1, 2):
        measure_load(result, server=server, plan=plan, pinning=pinning, c_ref=ref)
        assert result.overload is not None
        if result.overload["valid"] or attempt == 2:
            break
        note(f"  {scenario.name:<16} redoing the load phase in a fresh process")
    measure_half(result, server=server, plan=plan, pinning=pinning, c_ref=ref)
    return result


# --------------------------------------------------------------------------------------------------
# reporting


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _get(run: dict[str, Any] | None, window: str, key: str) -> Any:
    if run is None or not run.get(window):
        return None
    return run[window].get(key)


def figures(result: Result, c_ref: float | None, c_ref_per_cpu: float | None = None) -> dict[str, Any]:
    s = result.scenario
    out: dict[str, Any] = {"app": s.target.app, "family": s.family, "status": result.status}
    if result.reason:
        out["reason"] = result.reason
    cap = result.capacity
    if cap is not None:
        out["capacity"] = {
            "c_rps": round(result.c_rps or 0.0, 1),
            "wrk_rps": round(cap.rps, 1),
            "wrk_p50_ms": round(cap.p50_ms, 3),
            "wrk_p99_ms": round(cap.p99_ms, 3),
            "non_2xx": cap.non_2xx,
            "socket_errors": cap.socket_errors,
        }
    u, o = result.unloaded, result.overload
    if u is not None:
        out["unloaded"] = u
    if o is None:
        return out
    unl_p99 = u["p99_ms"] if u else None
    out["overload"] = o
    dur = o["duration_s"]
    out["valid"] = bool(o["valid"] and u is not None and u["valid"])
    out["goodput_rps"] = o["goodput_rps"]
    out["goodput_ratio_c_ref"] = _round(_div(o["goodput_rps"], c_ref))
    # The same ratio per CPU-second the server got: robust to other processes taking its core
    # (the capacity run and the overload run rarely get the same share of a shared machine).
    # (CPU-bound family only: elsewhere the CPU is not what limits capacity.)
    if result.scenario.family == "cpu":
        out["goodput_ratio_c_ref_per_cpu"] = _round(
            _div(_div(o["goodput_rps"], o.get("server_cpu")), c_ref_per_cpu)
        )
    else:
        out["goodput_ratio_c_ref_per_cpu"] = None
    out["server_cpu"] = o.get("server_cpu")
    out["foreign_cpu"] = o.get("foreign_cpu")
    out["goodput_ratio_own_c"] = _round(_div(o["goodput_rps"], result.c_rps))
    out["unloaded_p50_ms"] = u["p50_ms"] if u else None
    out["unloaded_p99_ms"] = unl_p99
    out["p50_admitted_ms"] = o["p50_ms"]
    out["p99_admitted_ms"] = o["p99_ms"]
    out["p99_ratio"] = _round(_div(o["p99_ms"], unl_p99))
    out["onset_p99_ms"] = _get(o, "onset", "p99_ms")
    out["onset_p99_ratio"] = _round(_div(out["onset_p99_ms"], unl_p99))
    out["steady_p99_ms"] = _get(o, "steady", "p99_ms")
    out["steady_p99_ratio"] = _round(_div(out["steady_p99_ms"], unl_p99))
    out["shed_rps"] = round(o["status_503"] / dur, 1)
    out["timeout_rps"] = round(o["timeouts"] / dur, 1)
    classes = o.get("classes")
    if classes:
        prio = classes["priority"]
        out["priority_ok_fraction"] = prio["ok_fraction"]
        out["priority_goodput_rps"] = prio["goodput_rps"]
        out["normal_goodput_rps"] = classes["normal"]["goodput_rps"]
    h = result.half
    if h is not None:
        out["half"] = h
        out["half_refused_fraction"] = _round(_div(h["sent"] - h["ok"], h["sent"]), 4)
    if result.metrics:
        out["server_metrics"] = result.metrics
    return out


def _per_cpu(result: Result | None) -> float | None:
    """2xx per CPU-second of the server in the capacity run."""
    if result is None or result.capacity is None or result.capacity.cpu is None:
        return None
    return _div(result.c_rps, result.capacity.cpu.server)


def report(results: dict[str, Result], c_refs: dict[str, float], plan: Plan) -> dict[str, Any]:
    refs = {r.scenario.family: r for r in results.values() if r.scenario.reference}
    figs = {
        name: figures(r, c_refs.get(r.scenario.family), _per_cpu(refs.get(r.scenario.family)))
        for name, r in results.items()
    }
    headers = [
        "target", "C", "unl p50", "unl p99", "offered", "goodput", "gp/C", "/cpu", "p50", "p99", "/unl",
        "onset p99", "/unl", "steady p99", "/unl", "503/s", "t/o/s", "cpu", "others", "valid",
    ]  # fmt: skip
    for family, label in FAMILIES.items():
        rows = []
        for name, r in results.items():
            if r.scenario.family != family:
                continue
            f = figs[name]
            o = r.overload
            if r.status != "ok" or o is None:
                rows.append(
                    [name, *(["-"] * (len(headers) - 2)), f"{r.status}: {r.reason.splitlines()[0][:60]}"]
                )
                continue
            rows.append(
                [
                    name,
                    _fmt(r.c_rps, ",.0f"),
                    _fmt(f["unloaded_p50_ms"], ".2f"),
                    _fmt(f["unloaded_p99_ms"], ".2f"),
                    f"{o['send_rps']:,.0f}",
                    f"{o['goodput_rps']:,.0f}",
                    _fmt(f["goodput_ratio_c_ref"], ".2f"),
                    _fmt(f["goodput_ratio_c_ref_per_cpu"], ".2f"),
                    _fmt(o["p50_ms"], ".1f"),
                    _fmt(o["p99_ms"], ".1f"),
                    _fmt(f["p99_ratio"], ".1f"),
                    _fmt(f["onset_p99_ms"], ".1f"),
                    _fmt(f["onset_p99_ratio"], ".1f"),
                    _fmt(f["steady_p99_ms"], ".1f"),
                    _fmt(f["steady_p99_ratio"], ".1f"),
                    f"{f['shed_rps']:,.0f}",
                    f"{f['timeout_rps']:,.0f}",
                    _fmt(f["server_cpu"], ".2f"),
                    _fmt(f["foreign_cpu"], ".2f"),
                    "yes" if f["valid"] else "NO",
                ]
            )
        if not rows:
            continue
        c_ref = c_refs.get(family)
        print()
        print(
            f"{family} family ({label}): C_ref = {_fmt(c_ref, ',.0f')} 2xx/s, offered "
            f"{plan.factor:g} x C_ref = {_fmt(None if c_ref is None else plan.factor * c_ref, ',.0f')}/s"
        )
        print_table(headers, rows)
    print()
    print(
        "C = closed-loop 2xx/s (wrk); unl = open loop at "
        f"{UNLOADED_FACTOR} x C_ref in a rested server; goodput = 2xx within the {plan.deadline_s:g} s "
        "deadline per second; /cpu = gp/C per CPU-second the server got in each run (robust to "
        "other processes on its core); latencies in ms (2xx only); onset = sent in the first "
        "second of the overload, steady = sent after its second second; cpu / others = cores "
        "used by the server / by other processes during the overload; valid = generator lag p99 "
        f"<= {LAG_LIMIT_MS:g} ms in both phases"
    )
    for name, r in results.items():
        o = r.overload
        classes = o.get("classes") if o else None
        if classes:
            for cls in ("priority", "normal"):
                c = classes[cls]
                print(
                    f"{name} {cls}: sent {c['sent']:,}, 2xx {c['ok']:,} ({_fmt(c['ok_fraction'], '.1%')}), "
                    f"goodput {c['goodput_rps']:,.0f}/s, p50 {_fmt(c['p50_ms'], '.1f')} ms, "
                    f"p99 {_fmt(c['p99_ms'], '.1f')} ms"
                )
    half_rows = [
        [
            name,
            f"{h['send_rps']:,.0f}",
            f"{h['sent']:,}",
            f"{h['sent'] - h['ok']:,}",
            f"{100 * (h['sent'] - h['ok']) / max(1, h['sent']):.2f}",
            f"{h['status_503']:,}",
            _fmt(h["p50_ms"], ".2f"),
            _fmt(h["p99_ms"], ".2f"),
            "yes" if h["valid"] else "NO",
        ]
        for name, r in results.items()
        if (h := r.half) is not None
    ]
    if half_rows:
        print()
        print(f"below capacity: {HALF_FACTOR:g} x C_ref, Poisson arrivals (seed {POISSON_SEED}), new server")
        print_table(["target", "offered", "sent", "not 2xx", "%", "503", "p50", "p99", "valid"], half_rows)
    for name, r in results.items():
        if r.metrics:
            shown = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(r.metrics.items()))
            print(f"{name} /metrics after overload: {shown}")
    print()
    return {"targets": figs, "floors": floors(figs)}


# (label, target, figure, floor, op)
FLOORS: Final = (
    ("seawall_shed goodput/C", "seawall_shed", "goodput_ratio_c_ref", 0.90, ">="),
    ("seawall_shed onset p99/unloaded", "seawall_shed", "onset_p99_ratio", 3.0, "<="),
    ("seawall_shed steady p99/unloaded", "seawall_shed", "steady_p99_ratio", 2.0, "<="),
    ("seawall_io goodput/C", "seawall_io", "goodput_ratio_c_ref", 0.90, ">="),
    ("seawall_io onset p99/unloaded", "seawall_io", "onset_p99_ratio", 3.0, "<="),
    ("seawall_io steady p99/unloaded", "seawall_io", "steady_p99_ratio", 3.0, "<="),
    ("seawall_priority priority 2xx/sent", "seawall_priority", "priority_ok_fraction", 0.95, ">="),
    ("seawall_priority goodput/C", "seawall_priority", "goodput_ratio_c_ref", 0.90, ">="),
    ("seawall_priority_cpu priority 2xx/sent", "seawall_priority_cpu", "priority_ok_fraction", 0.95, ">="),
    ("seawall_priority_cpu goodput/C", "seawall_priority_cpu", "goodput_ratio_c_ref", 0.90, ">="),
)


def floors(figs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    print("floors (informational; they never change the exit status):")
    for label, target, key, floor, how in FLOORS:
        f = figs.get(target, {})
        value = f.get(key)
        if value is None:
            verdict = "SKIP"
        elif not f.get("valid", False):
            verdict = "INVALID"
        else:
            verdict = "PASS" if (value >= floor if how == ">=" else value <= floor) else "FAIL"
        out[label] = {"floor": floor, "op": how, "value": value, "verdict": verdict}
        shown = "    -" if value is None else f"{value:5.2f}"
        print(f"  {label:<38} {shown:>6}  ({how} {floor:.2f})  {verdict}")
    return out


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short run (whole script under 2 min)")
    parser.add_argument(
        "--server", choices=["granian", "uvicorn"], default="granian", help="ASGI server (default granian)"
    )
    parser.add_argument("--duration", type=float, help="overload seconds per target (quick 8, full 30)")
    parser.add_argument("--factor", type=float, help="offered load as a multiple of C_ref (default 3)")
    parser.add_argument("--deadline", type=float, help="client deadline in seconds (default 1)")
    parser.add_argument(
        "--targets", help="comma-separated subset (each family's reference is always run, first)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin generator and server with taskset")
    args = parser.parse_args(argv)
    started = time.monotonic()
    base = QUICK_PLAN if args.quick else FULL_PLAN
    plan = Plan(
        warmup_s=base.warmup_s,
        capacity_s=base.capacity_s,
        rest_warmup_s=base.rest_warmup_s,
        unloaded_s=base.unloaded_s,
        overload_s=args.duration or base.overload_s,
        factor=args.factor or base.factor,
        deadline_s=args.deadline or base.deadline_s,
        max_conns=base.max_conns,
        all_capacities=base.all_capacities,
    )
    results: dict[str, Result] = {}
    try:
        scenarios = list(SCENARIOS)
        if args.targets:
            wanted = set(args.targets.split(","))
            unknown = wanted - {s.name for s in SCENARIOS}
            if unknown:
                raise HarnessError(f"unknown targets: {', '.join(sorted(unknown))}")
            families = {s.family for s in SCENARIOS if s.name in wanted}
            scenarios = [s for s in SCENARIOS if s.name in wanted or (s.reference and s.family in families)]
        pinning = detect_pinning(enabled=not args.no_pin)
        machine = machine_info()

        print('seawall overload benchmark: GET /work -> {"ok": true}')
        print(f"machine: {describe_machine(machine)}")
        print(f"server:  {describe_server(args.server)}")
        print(
            f"client:  capacity wrk -t1 -c{CAPACITY_CONNS} -d{plan.capacity_s}s (warm-up {plan.warmup_s}s, "
            f"{'every target' if plan.all_capacities else 'references only'}); then a fresh server: "
            f"open loop (bench/_loadgen.py) {plan.rest_warmup_s:g}s warm-up + {plan.unloaded_s:g}s at "
            f"{UNLOADED_FACTOR} x C_ref, then {plan.factor:g} x C_ref for {plan.overload_s:g}s, deadline "
            f"{plan.deadline_s:g}s, <= {plan.max_conns} connections"
        )
        print(f"pinning: {pinning.describe().replace('wrk on', 'wrk and generator on')}")
        sys.stdout.flush()

        c_refs: dict[str, float] = {}
        for scenario in sorted(scenarios, key=lambda s: (s.family != "cpu", not s.reference)):
            family = scenario.family
            if not scenario.reference and family not in c_refs:
                results[scenario.name] = Result(scenario, "skipped", "its family's reference failed")
                continue
            try:
                result = measure(
                    scenario, server=args.server, plan=plan, pinning=pinning, c_ref=c_refs.get(family)
                )
            except HarnessError as exc:
                result = Result(scenario, status="failed", reason=str(exc))
                note(f"  {scenario.name:<16} FAILED: {exc}")
            else:
                if scenario.reference and result.c_rps:
                    c_refs[family] = result.c_rps
            results[scenario.name] = result
        summary = report(results, c_refs, plan)
    except HarnessError as exc:
        print(f"harness error: {exc}", file=sys.stderr)
        return 2

    failed = [name for name, r in results.items() if r.status == "failed"]
    elapsed = print_total(started, failed)
    emit_json(
        {
            "bench": "overload",
            "server": args.server,
            "quick": args.quick,
            "plan": plan.as_dict(),
            "pinning": pinning.describe(),
            "machine": machine,
            "c_ref_rps": {k: _round(v, 1) for k, v in c_refs.items()},
            **summary,
            "elapsed_s": round(elapsed, 1),
        }
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
