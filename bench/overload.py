"""Overload benchmark: does a service stay useful when offered three times what it can serve?

Every target serves ``GET /work`` -> ``{"ok": true}`` burning about 2 ms of CPU per request, on the
same server (granian, ASGI, one worker), one target at a time:

- ``seawall_shed``: ``examples.overload:service``, default chain + adaptive shedding;
- ``seawall_noshed``: the same handler with the default chain only;
- ``fastapi``: FastAPI with the same handler.

For each target, in one server process:

1. capacity ``C``: closed loop with wrk (few connections, so queues stay short), 2xx per second;
2. unloaded latency: open loop at 0.3 x C_ref for a few seconds, p99 of the 2xx answers;
3. overload: open loop at 3 x C_ref with a 1 s client deadline (``bench/_loadgen.py``): arrivals
   follow a fixed timetable whatever the server does, and a request not answered within the deadline
   is abandoned, as impatient clients do. A closed-loop tool would slow down with the server and hide
   the collapse.

``C_ref`` is the capacity of ``seawall_shed`` (measured first), so all targets face the same arrival
rate; each target's own C is printed too. Goodput is 2xx answered within the deadline per second.
The generator and the server are pinned to different CPUs with taskset when possible.

    .venv/bin/python bench/overload.py --quick      # < 60 s (10 s of overload per target)
    .venv/bin/python bench/overload.py              # 30 s of overload per target

Floors (printed with PASS/FAIL, never turned into the exit status): with shedding on, goodput >=
0.90 x C and p99 of admitted (2xx) requests <= 3 x the unloaded p99. The last stdout line is one JSON
object with all figures. The exit status is non-zero only when the harness fails.
"""

from __future__ import annotations

import argparse
import contextlib
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
    note,
    print_table,
    print_total,
    run_wrk,
)

LOADGEN: Final = Path(__file__).with_name("_loadgen.py")
OK_BODY: Final = {"ok": True}

TARGETS: Final = (
    Target(
        "seawall_shed",
        "examples.overload:service",
        "seawall, default chain + adaptive shedding (examples.overload)",
        path="/work",
        expect_json=OK_BODY,
    ),
    Target(
        "seawall_noshed",
        "bench.apps.seawall_overload_noshed:service",
        "seawall, default chain, no shedding",
        path="/work",
        expect_json=OK_BODY,
    ),
    Target("fastapi", "bench.apps.fastapi_overload:app", "FastAPI", path="/work", expect_json=OK_BODY),
)
REFERENCE: Final = "seawall_shed"

#: wrk connections for the capacity run: enough to keep one worker busy, few enough that the
#: shedder (and the queue) stay out of the way.
CAPACITY_CONNS: Final = 8
UNLOADED_FACTOR: Final = 0.3
SCRAPE_TIMEOUT_S: Final = 2.0
GOODPUT_FLOOR: Final = 0.90
P99_FLOOR: Final = 3.0


@dataclass(frozen=True, slots=True)
class Plan:
    warmup_s: int
    capacity_s: int
    unloaded_s: float
    overload_s: float
    factor: float
    deadline_s: float
    max_conns: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "warmup_s": self.warmup_s,
            "capacity_s": self.capacity_s,
            "capacity_conns": CAPACITY_CONNS,
            "unloaded_s": self.unloaded_s,
            "unloaded_factor": UNLOADED_FACTOR,
            "overload_s": self.overload_s,
            "overload_factor": self.factor,
            "deadline_s": self.deadline_s,
            "max_conns": self.max_conns,
        }


QUICK_PLAN: Final = Plan(1, 2, 2.0, 10.0, 3.0, 1.0, 4000)
FULL_PLAN: Final = Plan(3, 10, 10.0, 30.0, 3.0, 1.0, 4000)


@dataclass(slots=True)
class Result:
    target: Target
    status: str = "ok"
    reason: str = ""
    capacity: WrkResult | None = None
    unloaded: dict[str, Any] | None = None
    overload: dict[str, Any] | None = None
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


def run_loadgen(url: str, *, rate: float, duration_s: float, plan: Plan, pinning: Pinning) -> dict[str, Any]:
    """One open-loop run in a child process pinned to the client CPU; returns its JSON summary."""
    cmd = [
        *pinning.prefix("client"), PYTHON, str(LOADGEN), url, "--rate", f"{rate:.1f}",
        "--duration", str(duration_s), "--deadline", str(plan.deadline_s), "--max-conns", str(plan.max_conns),
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


_METRIC_LINE: Final = re.compile(
    r"^(seawall_[a-z_]*(?:rejected|shed|in_flight|requests_total)[a-z_]*)(\{[^}]*\})? (\S+)$"
)


def scrape_metrics(port: int) -> dict[str, float]:
    """Shedding-related seawall metrics for the ``/work`` route (or route-less ones); {} on failure."""
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
        if "route=" in labels and 'route="/work"' not in labels:
            continue
        labels = (
            labels.replace('method="GET",', "").replace(',route="/work"', "").replace('route="/work"', "")
        )
        key = name + ("" if labels in ("", "{}") else labels)
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


def measure(
    target: Target, *, server: str, plan: Plan, pinning: Pinning, c_ref: float | None
) -> tuple[Result, float | None]:
    """Capacity, unloaded latency and overload of one target in one server process."""
    result = Result(target)
    settings = WrkSettings(connections=CAPACITY_CONNS, duration_s=plan.capacity_s, warmup_s=plan.warmup_s)
    t_start = time.monotonic()
    with _Server(target, server=server, pinning=pinning) as srv:
        note(f"  {target.name:<15} ready after {time.monotonic() - t_start:.1f}s")
        if plan.warmup_s:
            run_wrk(srv.url, settings, duration_s=plan.warmup_s, pinning=pinning)
        result.capacity = run_wrk(srv.url, settings, duration_s=plan.capacity_s, pinning=pinning)
        own = result.c_rps
        if own is None or own <= 0:
            raise HarnessError(f"{target.name}: capacity run got no 2xx answers")
        cap = result.capacity
        note(
            f"  {target.name:<15} C = {own:,.0f} 2xx/s (wrk -c{CAPACITY_CONNS}, p99 {cap.p99_ms:.1f} ms"
            + (f", non-2xx {cap.non_2xx}" if cap.non_2xx else "")
            + ")"
        )
        ref = own if c_ref is None else c_ref
        low = UNLOADED_FACTOR * ref
        result.unloaded = run_loadgen(
            srv.url, rate=low, duration_s=plan.unloaded_s, plan=plan, pinning=pinning
        )
        note(
            f"  {target.name:<15} unloaded ({low:,.0f}/s open loop): "
            f"p99 {_fmt(result.unloaded['p99_ms'], '.2f')} ms"
        )
        high = plan.factor * ref
        result.overload = run_loadgen(
            srv.url, rate=high, duration_s=plan.overload_s, plan=plan, pinning=pinning
        )
        o = result.overload
        note(
            f"  {target.name:<15} overload ({high:,.0f}/s open loop, sent {o['send_rps']:,.0f}/s): goodput "
            f"{o['goodput_rps']:,.0f}/s, p99 2xx {_fmt(o['p99_ms'], '.1f')} ms, 503 {o['status_503']}, "
            f"timeouts {o['timeouts']}, errors {o['errors']}"
        )
        if target.name.startswith("seawall"):
            result.metrics = scrape_metrics(srv.port)
        t_stop = time.monotonic()
    note(
        f"  {target.name:<15} stopped in {time.monotonic() - t_stop:.1f}s; "
        f"{time.monotonic() - t_start:.1f}s in all"
    )
    return result, ref


# --------------------------------------------------------------------------------------------------
# reporting


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def figures(result: Result, c_ref: float | None, plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {"app": result.target.app, "status": result.status}
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
    unloaded_p99 = result.unloaded["p99_ms"] if result.unloaded else None
    if result.unloaded is not None:
        out["unloaded"] = result.unloaded
    o = result.overload
    if o is not None:
        out["overload"] = o
        dur = o["duration_s"]
        out["goodput_rps"] = o["goodput_rps"]
        out["goodput_ratio_c_ref"] = _round(_div(o["goodput_rps"], c_ref))
        out["goodput_ratio_own_c"] = _round(_div(o["goodput_rps"], result.c_rps))
        out["p99_admitted_ms"] = o["p99_ms"]
        out["unloaded_p99_ms"] = unloaded_p99
        out["p99_ratio"] = _round(_div(o["p99_ms"], unloaded_p99))
        out["shed_rps"] = round(o["status_503"] / dur, 1)
        out["shed_fraction"] = _round(_div(o["status_503"], o["sent"]))
        out["timeout_rps"] = round(o["timeouts"] / dur, 1)
    if result.metrics:
        out["server_metrics"] = result.metrics
    return out


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def report(results: dict[str, Result], c_ref: float | None, plan: Plan) -> dict[str, Any]:
    figs = {name: figures(r, c_ref, plan) for name, r in results.items()}
    rows = []
    for name, r in results.items():
        f = figs[name]
        o = r.overload
        if r.status != "ok" or o is None:
            rows.append([name, *(["-"] * 11), f"{r.status}: {r.reason.splitlines()[0][:70]}"])
            continue
        rows.append(
            [
                name,
                _fmt(r.c_rps, ",.0f"),
                _fmt(f["unloaded_p99_ms"], ".2f"),
                f"{o['send_rps']:,.0f}",
                f"{o['goodput_rps']:,.0f}",
                _fmt(f["goodput_ratio_c_ref"], ".2f"),
                _fmt(o["p99_ms"], ".1f"),
                _fmt(f["p99_ratio"], ".1f"),
                f"{f['shed_rps']:,.0f}",
                f"{f['timeout_rps']:,.0f}",
                str(o["errors"] + o["no_conn"] + o["status_other"] + o["status_429"]),
                str(o["conns_opened"]),
                r.target.label,
            ]
        )
    headers = [
        "target", "C 2xx/s", "unl p99", "offered/s", "goodput/s", "gp/C", "p99 2xx",
        "p99/unl", "503/s", "timeout/s", "other", "conns", "what",
    ]  # fmt: skip
    print()
    print_table(headers, rows, align="l" + "r" * (len(headers) - 2) + "l")
    print()
    print(
        f"C = closed-loop 2xx/s (wrk -c{CAPACITY_CONNS}); "
        f"unl p99 = p99 ms at {UNLOADED_FACTOR} x C_ref open loop; "
        f"offered/s = achieved send rate at {plan.factor:g} x C_ref; goodput = 2xx within the "
        f"{plan.deadline_s:g} s deadline; gp/C = goodput / C_ref; p99 2xx in ms; conns = connections opened"
    )
    for name, r in results.items():
        if r.metrics:
            shown = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(r.metrics.items()))
            print(f"{name} /metrics after overload: {shown}")
    print()

    floors: dict[str, Any] = {}
    print("floors (informational; they never change the exit status):")
    ref = figs.get(REFERENCE, {})
    checks = (
        ("seawall_shed goodput/C", ref.get("goodput_ratio_c_ref"), GOODPUT_FLOOR, ">="),
        ("seawall_shed p99 admitted/unloaded", ref.get("p99_ratio"), P99_FLOOR, "<="),
    )
    for label, value, floor, how in checks:
        if value is None:
            verdict = "SKIP"
        else:
            verdict = "PASS" if (value >= floor if how == ">=" else value <= floor) else "FAIL"
        floors[label] = {"floor": floor, "op": how, "value": value, "verdict": verdict}
        shown = "    -" if value is None else f"{value:5.2f}"
        print(f"  {label:<36} {shown:>6}  ({how} {floor:.2f})  {verdict}")
    return {"targets": figs, "floors": floors}


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short run (whole script under 60 s)")
    parser.add_argument(
        "--server", choices=["granian", "uvicorn"], default="granian", help="ASGI server (default granian)"
    )
    parser.add_argument("--duration", type=float, help="overload seconds per target (quick 10, full 30)")
    parser.add_argument("--factor", type=float, help="offered load as a multiple of C_ref (default 3)")
    parser.add_argument("--deadline", type=float, help="client deadline in seconds (default 1)")
    parser.add_argument("--targets", help=f"comma-separated subset ({REFERENCE} is always run, first)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin generator and server with taskset")
    args = parser.parse_args(argv)
    started = time.monotonic()
    base = QUICK_PLAN if args.quick else FULL_PLAN
    plan = Plan(
        warmup_s=base.warmup_s,
        capacity_s=base.capacity_s,
        unloaded_s=base.unloaded_s,
        overload_s=args.duration or base.overload_s,
        factor=args.factor or base.factor,
        deadline_s=args.deadline or base.deadline_s,
        max_conns=base.max_conns,
    )
    try:
        targets = list(TARGETS)
        if args.targets:
            wanted = {REFERENCE, *args.targets.split(",")}
            unknown = wanted - {t.name for t in TARGETS}
            if unknown:
                raise HarnessError(f"unknown targets: {', '.join(sorted(unknown))}")
            targets = [t for t in TARGETS if t.name in wanted]
        pinning = detect_pinning(enabled=not args.no_pin)
        machine = machine_info()

        print('seawall overload benchmark: GET /work (~2 ms CPU) -> {"ok": true}')
        print(f"machine: {describe_machine(machine)}")
        print(f"server:  {describe_server(args.server)}")
        print(
            f"client:  capacity wrk -t1 -c{CAPACITY_CONNS} -d{plan.capacity_s}s (warm-up {plan.warmup_s}s); "
            f"open loop (bench/_loadgen.py) {UNLOADED_FACTOR} x C_ref for {plan.unloaded_s:g}s, then "
            f"{plan.factor:g} x C_ref for {plan.overload_s:g}s, deadline {plan.deadline_s:g}s, "
            f"<= {plan.max_conns} connections"
        )
        print(f"pinning: {pinning.describe().replace('wrk on', 'wrk and generator on')}")
        sys.stdout.flush()

        results: dict[str, Result] = {}
        c_ref: float | None = None
        for target in targets:
            try:
                result, ref = measure(target, server=args.server, plan=plan, pinning=pinning, c_ref=c_ref)
            except HarnessError as exc:
                result = Result(target, status="failed", reason=str(exc))
                note(f"  {target.name:<15} FAILED: {exc}")
                if target.name == REFERENCE:
                    results[target.name] = result
                    break
            else:
                if target.name == REFERENCE:
                    c_ref = ref
            results[target.name] = result
        if c_ref is not None:
            print(
                f"C_ref = {c_ref:,.0f} 2xx/s ({REFERENCE}); "
                f"offered load {plan.factor:g} x C_ref = {plan.factor * c_ref:,.0f}/s"
            )
        summary = report(results, c_ref, plan)
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
            "c_ref_rps": _round(c_ref, 1),
            "offered_rps": _round(None if c_ref is None else plan.factor * c_ref, 1),
            **summary,
            "elapsed_s": round(elapsed, 1),
        }
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
