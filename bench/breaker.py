"""Circuit-breaker benchmark: the cost of one decision (allow + record), seawall vs pybreaker,
aiobreaker and purgatory.

In-process, single thread, tight loop. Two scenarios, one run:

- **healthy**: the breaker is closed and every call succeeds. seawall: ``ticket = allow()`` then
  ``ticket.success()``; the peers have no separate decision API, so their one entry point wraps a
  no-op call (pybreaker/aiobreaker ``cb.call(noop)``, purgatory ``with breaker:``). This is the
  issue's floor: allow + record <= 400 ns per call.
- **open**: the breaker rejects (opened by failures, with an hour-long wait so it stays open).
  seawall's ``allow()`` answers ``None``; the peers raise their open-circuit exception, which the
  loop catches. For :class:`AdaptiveBreaker` "open" is the state a run of failures leaves it in:
  it drops with a probability near 1 (the rejected share is printed).

Each batch of ``BATCH`` calls runs on a fresh breaker (set-up untimed), so every batch starts in
the same state; the seawall breakers run on the real monotonic clock, as in production. A run
times batches with ``time.perf_counter`` until it has ``run`` seconds of measured time and keeps two
figures: **typical**, the median batch (what a call costs when nothing else takes the CPU: a batch
preempted by another process lands in the tail), and **mean**, all time over all calls. Each figure
is the median of ``--repeat`` runs (3 with ``--quick``, else 5), interleaved across breakers with the
first one rotating. The floor is checked on the typical figure. Figures include the loop itself (the
empty-loop cost is printed for reference).

    .venv/bin/python bench/breaker.py --quick      # < 60 s
    .venv/bin/python bench/breaker.py              # longer runs

The last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.metadata
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from _harness import ROOT, emit_json, machine_info, note, print_table

sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import pybreaker  # noqa: E402

from seawall.breaker import AdaptiveBreaker, CircuitBreaker, NoopBreaker  # noqa: E402

BATCH: Final = 1024  # calls per batch, on a fresh breaker
FLOOR_NS: Final = 400.0  # issue 9: breaker decision cost (allow + record) <= 400 ns in-process
HOUR: Final = 3600.0
SCENARIOS: Final = ("healthy", "open")
PEERS: Final = ("pybreaker", "aiobreaker", "purgatory")


@dataclass(frozen=True, slots=True)
class Settings:
    run_s: float  # measured seconds per run
    repeat: int


QUICK: Final = Settings(run_s=0.2, repeat=3)
FULL: Final = Settings(run_s=1.0, repeat=5)


@dataclass(slots=True)
class Runs:
    """Measured runs of one breaker in one scenario. Per run, two figures: the median over its
    batches (the cost of a call when nothing else takes the CPU: a batch that was preempted by
    another process lands in the tail) and the mean (total time / calls, preemptions included)."""

    typical_ns: list[float] = field(default_factory=list)  # per run: median batch, ns per call
    mean_ns: list[float] = field(default_factory=list)  # per run: total time / calls
    calls: int = 0
    rejected: int = 0

    def add(self, rejected: int, batch_seconds: list[float]) -> None:
        self.typical_ns.append(statistics.median(batch_seconds) / BATCH * 1e9)
        self.mean_ns.append(sum(batch_seconds) / (len(batch_seconds) * BATCH) * 1e9)
        self.calls += len(batch_seconds) * BATCH
        self.rejected += rejected

    @property
    def typical(self) -> float:
        return statistics.median(self.typical_ns)

    @property
    def mean(self) -> float:
        return statistics.median(self.mean_ns)

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.calls if self.calls else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "typical_ns": round(self.typical, 1),
            "mean_ns": round(self.mean, 1),
            "runs_typical_ns": [round(n, 1) for n in self.typical_ns],
            "runs_mean_ns": [round(n, 1) for n in self.mean_ns],
            "calls": self.calls,
            "rejected_share": round(self.rejected_share, 4),
        }


# --------------------------------------------------------------------------------------------------
# cases: make(scenario) returns a fresh breaker's batch runner; run() -> (rejected, seconds)

Batch = Callable[[], tuple[int, float]]


def _noop() -> None:
    pass


def _fail() -> None:
    raise RuntimeError("down")


def _seawall_batch(breaker: Any) -> Batch:
    allow = breaker.allow

    def run() -> tuple[int, float]:
        rejected = 0
        perf = time.perf_counter
        start = perf()
        for _ in range(BATCH):
            ticket = allow()
            if ticket is None:
                rejected += 1
            else:
                ticket.success()
        return rejected, perf() - start

    return run


def _open_seawall(breaker: Any) -> Any:
    for _ in range(1000):
        ticket = breaker.allow()
        if ticket is None:
            break
        ticket.failure()
    return breaker


def _circuit(scenario: str) -> Batch:
    breaker = CircuitBreaker(wait_duration_in_open=HOUR)
    return _seawall_batch(_open_seawall(breaker) if scenario == "open" else breaker)


def _adaptive(scenario: str) -> Batch:
    breaker = AdaptiveBreaker(rng=random.Random(9))
    if scenario == "open":
        # Failures only: the drop ratio is (n - 5) / (n + 1), close to 1.
        tickets = [breaker.allow() for _ in range(200)]
        for ticket in tickets:
            assert ticket is not None
            ticket.failure()
    return _seawall_batch(breaker)


def _noop_breaker(scenario: str) -> Batch:
    return _seawall_batch(NoopBreaker())


def _call_batch(call: Callable[[Callable[[], None]], None], error: type[BaseException]) -> Batch:
    def run() -> tuple[int, float]:
        rejected = 0
        perf = time.perf_counter
        start = perf()
        for _ in range(BATCH):
            try:
                call(_noop)
            except error:
                rejected += 1
        return rejected, perf() - start

    return run


def _trip(call: Callable[[Callable[[], None]], None], tripped: type[BaseException], times: int) -> None:
    for _ in range(times):
        with contextlib.suppress(RuntimeError, tripped):
            call(_fail)


def _pybreaker(scenario: str) -> Batch:
    cb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=HOUR)
    if scenario == "open":
        _trip(cb.call, pybreaker.CircuitBreakerError, 5)
        assert cb.current_state == "open"
    return _call_batch(cb.call, pybreaker.CircuitBreakerError)


def _aiobreaker(scenario: str) -> Batch:
    aiobreaker = importlib.import_module("aiobreaker")
    cb = aiobreaker.CircuitBreaker(fail_max=5, timeout_duration=timedelta(hours=1))
    if scenario == "open":
        _trip(cb.call, aiobreaker.CircuitBreakerError, 5)
        assert cb.current_state == aiobreaker.CircuitBreakerState.OPEN
    return _call_batch(cb.call, aiobreaker.CircuitBreakerError)


def _purgatory(scenario: str) -> Batch:
    purgatory = importlib.import_module("purgatory")
    opened = importlib.import_module("purgatory.domain.model").OpenedState
    factory = purgatory.SyncCircuitBreakerFactory(default_threshold=5, default_ttl=HOUR)
    breaker = factory.get_breaker("dependency")

    def call(func: Callable[[], None]) -> None:
        with breaker:
            func()

    if scenario == "open":
        _trip(call, opened, 5)
    return _call_batch(call, opened)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    label: str
    measures: str
    make: Callable[[str], Batch]
    seawall: bool


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def cases() -> tuple[list[Case], dict[str, str]]:
    """Every case that can run here, and the peers skipped (with why)."""
    found = [
        Case(
            "seawall_circuit",
            "seawall CircuitBreaker",
            "allow() -> ticket.success(); count window of 100, defaults",
            _circuit,
            seawall=True,
        ),
        Case(
            "seawall_adaptive",
            "seawall AdaptiveBreaker",
            "allow() -> ticket.success(); go-zero defaults (K 1.5, 10 s / 40 buckets)",
            _adaptive,
            seawall=True,
        ),
        Case(
            "seawall_noop", "seawall NoopBreaker", "allow() -> ticket.success()", _noop_breaker, seawall=True
        ),
        Case(
            "pybreaker",
            f"pybreaker {_version('pybreaker')}",
            "cb.call(noop), fail_max=5",
            _pybreaker,
            seawall=False,
        ),
    ]
    skipped: dict[str, str] = {}
    for name, make, measures in (
        ("aiobreaker", _aiobreaker, "cb.call(noop) (its sync path), fail_max=5"),
        ("purgatory", _purgatory, "with breaker: noop(), SyncCircuitBreakerFactory, threshold 5"),
    ):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            skipped[name] = f"not installed ({exc})"
            continue
        found.append(Case(name, f"{name} {_version(name)}", measures, make, seawall=False))
    return found, skipped


# --------------------------------------------------------------------------------------------------
# measurement


def _batches(case: Case, scenario: str, count: int) -> tuple[int, list[float]]:
    """``count`` timed batches, each on a fresh breaker: (rejected, seconds of each batch)."""
    rejected = 0
    seconds = []
    for _ in range(count):
        run = case.make(scenario)
        got, took = run()
        rejected += got
        seconds.append(took)
    return rejected, seconds


def _empty_loop_ns() -> float:
    perf = time.perf_counter
    best = float("inf")
    for _ in range(50):
        start = perf()
        for _ in range(BATCH):
            pass
        best = min(best, perf() - start)
    return best / BATCH * 1e9


def measure(found: list[Case], settings: Settings) -> dict[str, dict[str, Runs]]:
    results = {c.name: {s: Runs() for s in SCENARIOS} for c in found}
    counts: dict[tuple[str, str], int] = {}
    for case in found:  # calibrate each run to about settings.run_s
        for scenario in SCENARIOS:
            _batches(case, scenario, 3)  # warm-up
            _, seconds = _batches(case, scenario, 5)
            counts[case.name, scenario] = max(3, round(settings.run_s / (sum(seconds) / 5)))
    for round_no in range(settings.repeat):
        note(f"round {round_no + 1}/{settings.repeat}")
        # Rotate who goes first, so slow drift of a shared machine spreads over every breaker.
        shift = round_no % len(found)
        for case in found[shift:] + found[:shift]:
            for scenario in SCENARIOS:
                gc.collect()
                rejected, seconds = _batches(case, scenario, counts[case.name, scenario])
                runs = results[case.name][scenario]
                runs.add(rejected, seconds)
                note(
                    f"  {case.name:<18} {scenario:<8} {runs.typical_ns[-1]:>9,.0f} ns/call typical, "
                    f"{runs.mean_ns[-1]:>9,.0f} mean"
                )
    return results


# --------------------------------------------------------------------------------------------------
# reporting


def report(found: list[Case], results: dict[str, dict[str, Runs]]) -> dict[str, Any]:
    base = results["seawall_circuit"]
    rows = []
    out: dict[str, Any] = {}
    for case in found:
        r = results[case.name]
        healthy, opened = r["healthy"], r["open"]
        floor = ("ok" if healthy.typical <= FLOOR_NS else "OVER") if case.seawall else "-"
        rows.append([
            case.label,
            f"{healthy.typical:,.0f}",
            f"{healthy.mean:,.0f}",
            f"{opened.typical:,.0f}",
            f"{opened.mean:,.0f}",
            f"{100 * opened.rejected_share:.1f}%",
            f"{healthy.typical / base['healthy'].typical:.2f}x / "
            f"{opened.typical / base['open'].typical:.2f}x",
            floor,
        ])  # fmt: skip
        out[case.name] = {
            "measures": case.measures,
            **{s: r[s].as_dict() for s in SCENARIOS},
            "ratio_to_seawall_circuit": {s: round(r[s].typical / base[s].typical, 3) for s in SCENARIOS},
            "floor_ns": FLOOR_NS if case.seawall else None,
            "within_floor": healthy.typical <= FLOOR_NS if case.seawall else None,
        }
    print(
        "Breaker decision cost, ns per call (single thread; typical = median batch, mean = all time "
        "incl. preemption; median of runs; lower is better)"
    )
    print_table(
        [
            "breaker", "healthy typical", "mean", "open typical", "mean", "rejected (open)",
            "this ÷ CircuitBreaker", "<= 400 ns",
        ],
        rows,
    )  # fmt: skip
    print()
    for case in found:
        print(f"  {case.label}: {case.measures}")
    print()
    return out


def _pin(enabled: bool) -> str:
    if not enabled:
        return "not pinned (--no-pin)"
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    return f"bench process on CPU {cpus[-1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (whole script under 60 s)")
    parser.add_argument("--repeat", type=int, help="runs per breaker and scenario; medians are reported")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the bench to one CPU")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    settings = Settings(base.run_s, args.repeat or base.repeat)
    started = time.monotonic()
    info = machine_info()
    found, skipped = cases()
    for dist in PEERS:
        info[dist] = _version(dist)
    info["pinning"] = _pin(not args.no_pin)
    note(f"pinning: {info['pinning']}")
    results = measure(found, settings)
    loop_ns = _empty_loop_ns()

    print(
        f"machine: {info['cpu']}, {info['logical_cpus']} logical CPUs ({info['usable_cpus']} usable), "
        f"{info['os']}, {info['python']}, load avg {info['loadavg_1m_at_start']}; {info['pinning']}"
    )
    print("libraries: " + ", ".join(f"{d} {info[d]}" for d in PEERS))
    print(
        f"method: batches of {BATCH} calls on a fresh breaker; median of {settings.repeat} runs of "
        f">= {settings.run_s} s measured time; figures include the loop (empty loop: {loop_ns:.0f} ns)"
    )
    print()
    figures = report(found, results)
    for name, why in skipped.items():
        print(f"{name} skipped: {why}")
    elapsed = time.monotonic() - started
    info["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(f"total {elapsed:.1f} s, load avg at end {info['loadavg_1m_at_end']}")
    emit_json({
        "bench": "breaker",
        "quick": args.quick,
        "machine": info,
        "settings": {
            "batch": BATCH, "repeat": settings.repeat, "run_s": settings.run_s, "statistic": "median",
            "empty_loop_ns": round(loop_ns, 1),
        },
        "breakers": figures,
        "skipped": skipped,
        "elapsed_s": round(elapsed, 1),
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
