"""Hot-path benchmark: what does each framework (and each seawall chain) cost per request?

Every target serves ``GET /hello`` -> ``{"message":"hello"}`` on the same server (granian, ASGI,
one worker) and is driven by the same wrk settings, one target at a time. Figures are requests/s and
p99 latency; what matters is the ratio to the raw ASGI callable measured in the same run.

    .venv/bin/python bench/hotpath.py --quick      # < 60 s
    .venv/bin/python bench/hotpath.py              # 3 interleaved rounds, medians
    .venv/bin/python bench/hotpath.py --server uvicorn

The last stdout line is one JSON object (targets, ratios, floors). The exit status is non-zero only
when the harness fails (a server does not start, wrk fails), never because a floor is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from _harness import (
    HarnessError,
    Outcome,
    Target,
    WrkSettings,
    add_common_args,
    bench_targets,
    describe_machine,
    describe_server,
    detect_pinning,
    emit_json,
    machine_info,
    print_table,
    print_total,
    settings_from_args,
)

HELLO = {"message": "hello"}

TARGETS = (
    Target("raw", "bench.apps.raw:app", "raw ASGI callable", expect_json=HELLO),
    Target("starlette", "bench.apps.starlette_app:app", "Starlette", expect_json=HELLO),
    Target("fastapi", "bench.apps.fastapi_app:app", "FastAPI", expect_json=HELLO),
    Target(
        "fastapi_stack",
        "bench.apps.fastapi_stack:app",
        "FastAPI + slowapi/pybreaker/instrumentator/timeout",
        expect_json=HELLO,
    ),
    Target(
        "seawall_bare",
        "bench.apps.seawall_bare:service",
        "seawall, BARE route",
        expect_json=HELLO,
        optional=True,
    ),
    Target(
        "seawall_default",
        "examples.hello:service",
        "seawall, default chain (examples.hello)",
        expect_json=HELLO,
        optional=True,
    ),
    Target(
        "seawall_full",
        "bench.apps.seawall_full:service",
        "seawall, full chain",
        expect_json=HELLO,
        optional=True,
    ),
    Target(
        "seawall_full_qd",
        "bench.apps.seawall_full_qd:service",
        "seawall, full chain + queue-delay admission",
        expect_json=HELLO,
        optional=True,
    ),
    Target(
        "seawall_no_runtime",
        "bench.apps.seawall_no_runtime:service",
        "seawall, default chain, runtime metrics off",
        expect_json=HELLO,
        optional=True,
    ),
    Target(
        "seawall_traced_unsampled",
        "bench.apps.seawall_traced_unsampled:service",
        "seawall, default chain, tracing on, unsampled",
        expect_json=HELLO,
        optional=True,
    ),
    Target(
        "seawall_traced_sampled",
        "bench.apps.seawall_traced_sampled:service",
        "seawall, default chain, tracing on, 100% sampled",
        expect_json=HELLO,
        optional=True,
    ),
)

# (ratio name, numerator, denominator, floor): printed with PASS/FAIL, never turned into an exit status.
FLOORS = (
    # the governance-core issue's floors (the earlier "default >= 3x FastAPI" is not among them:
    # FastAPI runs at ~0.35-0.42x raw here, so it asked for more than 1x a raw ASGI callable)
    ("seawall_bare/raw", "seawall_bare", "raw", 0.90),
    ("seawall_default/raw", "seawall_default", "raw", 0.85),
    ("seawall_full/raw", "seawall_full", "raw", 0.80),
    ("seawall_full/fastapi_stack", "seawall_full", "fastapi_stack", 6.0),
    # the overload issue: the full chain with queue-delay admission switched on
    ("seawall_full_qd/raw", "seawall_full_qd", "raw", 0.75),
    # observability (issue 10): runtime metrics cost <= 2 %, unsampled tracing <= 5 % of the
    # default chain's requests/s in the same run; 100% sampled is reported, without a floor
    ("seawall_default/seawall_no_runtime", "seawall_default", "seawall_no_runtime", 0.98),
    ("seawall_traced_unsampled/seawall_default", "seawall_traced_unsampled", "seawall_default", 0.95),
)


def _ratio(outcomes: dict[str, Outcome], num: str, den: str, *, per_cpu: bool = False) -> float | None:
    def figure(name: str) -> float | None:
        if name not in outcomes:
            return None
        return outcomes[name].rps_per_cpu if per_cpu else outcomes[name].rps

    a, b = figure(num), figure(den)
    return a / b if a is not None and b else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(outcomes: dict[str, Outcome], settings: WrkSettings) -> dict[str, Any]:
    """Print the table and the floors; return the JSON-ready figures."""
    ranges = settings.repeat > 1
    rows = []
    for name, outcome in outcomes.items():
        if outcome.status == "ok":
            what = outcome.target.label
        else:
            what = f"{outcome.status}: {outcome.reason.splitlines()[0][:80]}"
        rps_runs = [r.rps for r in outcome.runs]
        row = [name, _fmt(outcome.rps, ",.0f")]
        if ranges:
            row.append(f"{min(rps_runs):,.0f}-{max(rps_runs):,.0f}" if rps_runs else "-")
        row += [
            _fmt(outcome.p50_ms, ".2f"),
            _fmt(outcome.p99_ms, ".2f"),
            _fmt(_ratio(outcomes, name, "raw"), ".2f"),
            str(outcome.non_2xx + outcome.socket_errors) if outcome.runs else "-",
            _fmt(outcome.server_cpu, ".2f"),
            _fmt(outcome.rps_per_cpu, ",.0f"),
            _fmt(_ratio(outcomes, name, "raw", per_cpu=True), ".2f"),
            _fmt(outcome.foreign_cpu, ".2f"),
            f"{len(outcome.clean_runs)}/{len(outcome.runs)}" if outcome.runs else "-",
            what,
        ]
        rows.append(row)
    headers = ["target", "req/s", *(["range, all runs"] if ranges else []), "p50 ms", "p99 ms", "x raw"]
    headers += ["errors", "srv cpu", "req/cpu-s", "x raw/cpu", "noise", "clean", "what"]
    print()
    print_table(headers, rows, align="l" + "r" * (len(headers) - 2) + "l")
    print(
        "x raw: req/s ratio to raw (the headline).  srv cpu: cores the server used (1.00 = saturated).\n"
        "req/cpu-s: requests per second of server CPU time, and x raw/cpu its ratio to raw: the cost\n"
        "per request, a cross-check that holds up when other processes starve the server.\n"
        "noise: cores used by other processes during the run (median); a run is clean at <= "
        f"{settings.max_foreign_cpu:.2f}.\nclean: clean runs / runs; figures are medians over the clean runs "
        "(over all runs if none was clean)."
    )
    noisy = [n for n, o in outcomes.items() if o.runs and not o.clean_runs]
    if noisy:
        print(f"WARNING: no clean run for: {', '.join(noisy)}; their figures are noisy")
    print()

    ratios: dict[str, float | None] = {}
    ratios_per_cpu: dict[str, float | None] = {}
    floors: dict[str, Any] = {}
    print("floors (informational; they never change the exit status):")
    for label, num, den, floor in FLOORS:
        value = _ratio(outcomes, num, den)
        per_cpu = _ratio(outcomes, num, den, per_cpu=True)
        ratios[label] = None if value is None else round(value, 3)
        ratios_per_cpu[label] = None if per_cpu is None else round(per_cpu, 3)
        dirty = outcomes[num].non_2xx + outcomes[num].socket_errors if value is not None else 0
        if value is None:
            verdict = "SKIP"
        elif dirty:
            verdict = "FAIL (errors during run)"
        else:
            verdict = "PASS" if value >= floor else "FAIL"
        floors[label] = {"floor": floor, "ratio": ratios[label], "verdict": verdict.split()[0]}
        shown = "    -" if value is None else f"{value:5.2f}x"
        cross = "" if per_cpu is None else f"   [per server CPU-s: {per_cpu:.2f}x]"
        print(f"  {label:<28} {shown:>6}  (floor {floor:>4.2f}x)  {verdict:<5}{cross}")
    sampled = _ratio(outcomes, "seawall_traced_sampled", "seawall_default")
    if sampled is not None:
        print(f"  {'seawall_traced_sampled/seawall_default':<28} {sampled:5.2f}x  (reported, no floor)")
    ratios["seawall_traced_sampled/seawall_default"] = None if sampled is None else round(sampled, 3)
    for name in ("starlette", "fastapi", "fastapi_stack"):
        value = _ratio(outcomes, name, "raw")
        per_cpu = _ratio(outcomes, name, "raw", per_cpu=True)
        ratios[f"{name}/raw"] = None if value is None else round(value, 3)
        ratios_per_cpu[f"{name}/raw"] = None if per_cpu is None else round(per_cpu, 3)
    return {"ratios": ratios, "ratios_per_server_cpu": ratios_per_cpu, "floors": floors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(parser)
    parser.add_argument(
        "--targets", help="comma-separated subset, e.g. raw,seawall_bare (default: all; raw is always run)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        settings = settings_from_args(args)
        targets = list(TARGETS)
        if args.targets:
            wanted = {"raw", *args.targets.split(",")}
            unknown = wanted - {t.name for t in TARGETS}
            if unknown:
                raise HarnessError(f"unknown targets: {', '.join(sorted(unknown))}")
            targets = [t for t in TARGETS if t.name in wanted]
        pinning = detect_pinning(enabled=not args.no_pin)
        machine = machine_info()

        print('seawall hot-path benchmark: GET /hello -> {"message":"hello"}')
        print(f"machine: {describe_machine(machine)}")
        print(f"server:  {describe_server(args.server)}")
        print(f"client:  {settings.describe()}")
        print(f"pinning: {pinning.describe()}")
        print("figures: median over clean rounds; targets run one at a time, rounds interleaved")
        sys.stdout.flush()

        outcomes = bench_targets(targets, server=args.server, settings=settings, pinning=pinning)
        summary = report(outcomes, settings)
    except HarnessError as exc:
        print(f"harness error: {exc}", file=sys.stderr)
        return 2

    failed = [name for name, o in outcomes.items() if o.status == "failed"]
    elapsed = print_total(started, failed)
    emit_json(
        {
            "bench": "hotpath",
            "server": args.server,
            "quick": args.quick,
            "settings": settings.as_dict(),
            "pinning": pinning.describe(),
            "machine": machine,
            "targets": {name: o.as_dict() for name, o in outcomes.items()},
            **summary,
            "elapsed_s": round(elapsed, 1),
        }
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
