"""Per-request cost of the overload controllers in ``seawall.load`` (single thread, tight loop).

What the request path would pay, per request, on the real monotonic clock:

- ``CoDel.should_reject`` admitting (queue draining) and rejecting (overloaded, delay > 2 x target),
  with the caller's ``now`` passed in and without (one more clock read);
- ``AdaptiveConcurrencyLimiter.try_acquire`` + ``ticket.success()`` with the default algorithm
  (``VegasLimit``), app-limited (one in flight: the update returns early) and saturated (every
  sample runs the full Vegas rule; this row reads a Python step clock instead of
  ``time.monotonic``), and the refusal path (``try_acquire`` at the limit);
- the same through ``PartitionedLimiter.try_acquire(name)``;
- ``VegasLimit.on_sample`` and ``Gradient2Limit.on_sample`` alone, saturated;
- reference rows: one ``time.monotonic()`` call, and ``seawall.limit.ConcurrencyLimit``
  ``try_acquire`` + ``release`` (the fixed limit the adaptive one replaces).

Each figure is the median over ``--repeat`` runs of ns per operation (a run times ``N`` operations
with ``time.perf_counter_ns``). Ratios are to the ``ConcurrencyLimit`` row.

    .venv/bin/python bench/overload_controllers.py --quick    # a few seconds
    .venv/bin/python bench/overload_controllers.py

The last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, Final

from _harness import ROOT, emit_json, machine_info, note, print_table

sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from seawall.limit import ConcurrencyLimit  # noqa: E402
from seawall.load import (  # noqa: E402
    AdaptiveConcurrencyLimiter,
    CoDel,
    FixedLimit,
    Gradient2Limit,
    PartitionedLimiter,
    VegasLimit,
)

REFERENCE: Final = "ConcurrencyLimit acquire+release"


def _loop(op: Callable[[], object], n: int) -> float:
    """ns per call of ``op`` over ``n`` calls."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter_ns()
        for _ in range(n):
            op()
        return (time.perf_counter_ns() - started) / n
    finally:
        gc.enable()


class _StepClock:
    """A clock that advances 1 ms on every read (a stand-in with the cost of a Python call)."""

    def __init__(self) -> None:
        self._t = 0.0

    def now(self) -> float:
        self._t += 0.001
        return self._t

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - never awaited here
        raise NotImplementedError


def _cases() -> dict[str, Callable[[], object]]:
    cases: dict[str, Callable[[], object]] = {}
    now = time.monotonic

    cases["time.monotonic()"] = now

    conc = ConcurrencyLimit(limit=10)

    def conc_op() -> None:
        conc.try_acquire()
        conc.release()

    cases[REFERENCE] = conc_op

    draining = CoDel()
    cases["CoDel.should_reject admit (now passed)"] = lambda: draining.should_reject(0.0001, now())
    cases["CoDel.should_reject admit (reads clock)"] = lambda: draining.should_reject(0.0001)

    overloaded = CoDel()
    for _ in range(3):
        overloaded.should_reject(0.050)
        time.sleep(0.11)  # close the first interval with a 50 ms minimum (benchmark only)
    overloaded.should_reject(0.050)
    assert overloaded.overloaded
    cases["CoDel.should_reject reject (now passed)"] = lambda: overloaded.should_reject(0.050, now())

    idle = AdaptiveConcurrencyLimiter()

    def idle_op() -> None:
        ticket = idle.try_acquire()
        assert ticket is not None
        ticket.success()

    for _ in range(20):
        idle_op()  # end the start-up probe
    cases["limiter acquire+success, app-limited"] = idle_op

    # A clock that moves 1 ms per read makes every RTT 1 ms, the no-load RTT: with limit - 1
    # held, each sample is saturated and runs the whole Vegas rule (grow, then clamp at max).
    pinned = VegasLimit(initial_limit=50, max_limit=50, probe_samples=1, probe_interval=1e12)
    busy = AdaptiveConcurrencyLimiter(limit=pinned, clock=_StepClock())
    first = busy.try_acquire()
    assert first is not None
    first.success()
    held = [busy.try_acquire() for _ in range(busy.limit - 1)]
    assert all(held)

    def busy_op() -> None:
        ticket = busy.try_acquire()
        assert ticket is not None
        ticket.success()

    cases["limiter acquire+success, saturated"] = busy_op

    full = AdaptiveConcurrencyLimiter(limit=FixedLimit(1))
    keep = full.try_acquire()
    assert keep is not None
    cases["limiter try_acquire refused"] = full.try_acquire

    parts = PartitionedLimiter(partitions={"priority": 0.7, "normal": 0.3})

    def parts_op() -> None:
        ticket = parts.try_acquire("normal")
        assert ticket is not None
        ticket.success()

    for _ in range(20):
        parts_op()
    cases["partitioned acquire+success, app-limited"] = parts_op

    vegas = VegasLimit(initial_limit=500, max_limit=1000, probe_samples=1)
    vegas.on_sample(0.0, 0.010, 1, dropped=False)
    clock = [1.0]

    def vegas_op() -> None:
        clock[0] += 0.001
        vegas.on_sample(clock[0], 0.012, 1000, dropped=False)  # queue of ~84: decrease path

    cases["VegasLimit.on_sample, saturated"] = vegas_op

    gradient = Gradient2Limit(initial_limit=100, min_limit=1, max_limit=1000)
    for _ in range(10):
        gradient.on_sample(0.0, 0.010, 1, dropped=False)
    cases["Gradient2Limit.on_sample, saturated"] = lambda: gradient.on_sample(0.0, 0.012, 1000, dropped=False)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    parser.add_argument("--repeat", type=int, help="runs per case (default 5, 3 with --quick)")
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    repeat = args.repeat or (3 if args.quick else 5)

    note(f"building cases (sleeps ~0.3 s to put one CoDel into overload); {repeat} x {n:,} ops each")
    cases = _cases()
    results: dict[str, float] = {}
    runs: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, op in cases.items():  # interleaved, so drift hits every case alike
            runs[name].append(_loop(op, n))
    for name, values in runs.items():
        results[name] = statistics.median(values)

    ref = results[REFERENCE]
    rows = [[name, f"{ns:,.0f}", f"{ns / ref:.2f}x"] for name, ns in results.items()]
    print(f"seawall.load overload controllers, ns per operation (median of {repeat} x {n:,})")
    print()
    print_table(["operation", "ns/op", f"vs {REFERENCE}"], rows)
    print()
    data: dict[str, Any] = {
        "benchmark": "overload_controllers",
        "ops_per_run": n,
        "repeat": repeat,
        "ns_per_op": {name: round(ns, 1) for name, ns in results.items()},
        "machine": machine_info(),
    }
    emit_json(data)


if __name__ == "__main__":
    main()
