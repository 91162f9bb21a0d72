"""What a rejection costs: server CPU per request answered 503 by ``queue_delay``, beside a 200.

Under overload the CPU spent answering the excess decides goodput: at 3x capacity two of every
three requests are rejected, so a rejection must cost a small fraction of serving one (the overload
issue derives "under ~0.1 ms" for ~2 ms handlers). Each target runs in its own granian process
(one worker), saturated by wrk in a closed loop; the server's CPU time during the run divided by
the requests answered is the CPU cost of one request, whole path included (granian's parsing and
writing, seawall's routing, checks and error body):

- ``raw_200``: a bare ASGI callable answering ``GET /hello`` (the floor of any request here);
- ``seawall_200``: ``GET /hello`` on the default chain;
- ``seawall_503_queue_delay``: ``GET /reject``, every request shed by ``queue_delay`` after its
  loop turn (``bench/apps/seawall_reject.py``).

    .venv/bin/python bench/reject_cost.py --quick   # ~30 s
    .venv/bin/python bench/reject_cost.py           # 3 rounds, medians

Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import (
    HOST,
    HarnessError,
    Server,
    Target,
    WrkSettings,
    add_common_args,
    describe_machine,
    detect_pinning,
    emit_json,
    machine_info,
    measure_cpu,
    note,
    print_table,
    run_wrk,
    settings_from_args,
)

HELLO = {"message": "hello"}

#: (name, target, path driven by wrk)
TARGETS = (
    ("raw_200", Target("raw", "bench.apps.raw:app", "raw ASGI callable", expect_json=HELLO), "/hello"),
    (
        "seawall_200",
        Target("seawall_default", "examples.hello:service", "seawall, default chain", expect_json=HELLO),
        "/hello",
    ),
    (
        "seawall_503_queue_delay",
        Target(
            "seawall_reject",
            "bench.apps.seawall_reject:service",
            "seawall, queue_delay sheds all",
            expect_json=HELLO,
        ),
        "/reject",
    ),
)


def measure(target: Target, path: str, settings: WrkSettings, pinning: Any) -> dict[str, Any]:
    with Server(target, server="granian", pinning=pinning) as srv:
        url = f"http://{HOST}:{srv.port}{path}"
        if settings.warmup_s:
            run_wrk(url, settings, duration_s=settings.warmup_s, pinning=pinning)
        with measure_cpu(srv.pgid) as box:
            result = run_wrk(url, settings, duration_s=settings.duration_s, pinning=pinning)
    cpu = box[0]
    answered = result.requests
    us = 1e6 * cpu.server * result.duration_s / answered if answered else float("nan")
    return {
        "rps": round(result.rps, 1),
        "requests": answered,
        "non_2xx": result.non_2xx,
        "server_cpu": round(cpu.server, 3),
        "foreign_cpu": round(cpu.foreign, 3),
        "cpu_us_per_request": round(us, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    if args.connections is None:  # saturate the worker without long queues
        settings = WrkSettings(**{**settings.as_dict(), "connections": 32})
    pinning = detect_pinning(enabled=not args.no_pin)
    info = machine_info()
    print(f"machine: {describe_machine(info)}")
    print(f"load: {settings.describe()}; {pinning.describe()}")
    started = time.monotonic()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in TARGETS}
    for round_ in range(settings.repeat):
        for name, target, path in TARGETS:  # interleaved rounds: drift spreads over every target
            try:
                run = measure(target, path, settings, pinning)
            except HarnessError as exc:
                note(f"{name}: {exc}")
                continue
            note(f"round {round_ + 1} {name}: {run}")
            runs[name].append(run)
    figures: dict[str, Any] = {}
    rows = []
    for name, _target, path in TARGETS:
        got = runs[name]
        if not got:
            continue
        us = statistics.median(r["cpu_us_per_request"] for r in got)
        rps = statistics.median(r["rps"] for r in got)
        non_2xx = sum(r["non_2xx"] for r in got) / max(1, sum(r["requests"] for r in got))
        figures[name] = {
            "cpu_us_per_request": us,
            "rps": rps,
            "non_2xx_fraction": round(non_2xx, 4),
            "runs": got,
        }
        rows.append([name, f"GET {path}", f"{rps:,.0f}", f"{100 * non_2xx:.1f}", f"{us:.1f}"])
    print()
    print_table(["target", "request", "req/s", "% non-2xx", "server CPU us/request"], rows)
    reject = figures.get("seawall_503_queue_delay", {}).get("cpu_us_per_request")
    ok = figures.get("seawall_200", {}).get("cpu_us_per_request")
    if reject is not None and ok is not None:
        print()
        print(
            f"a queue_delay rejection costs {reject:.1f} us of server CPU ({reject / ok:.2f}x a "
            f"default-chain 200, {reject / 2000:.1%} of examples/overload.py's 2 ms handler)"
        )
    print(f"total time {time.monotonic() - started:.0f}s")
    emit_json({"bench": "reject_cost", "settings": settings.as_dict(), "pinning": pinning.describe(),
               "machine": info, "targets": figures})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
