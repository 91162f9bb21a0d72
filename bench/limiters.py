"""Rate-limiter benchmark: decisions per second, seawall vs aiolimiter, limits and pyrate-limiter.

Two parts, one run:

1. **In-process** (single thread, tight loop): seawall ``TokenBucket`` and ``SlidingWindow``,
   aiolimiter ``AsyncLimiter``, ``limits`` moving and fixed window on ``MemoryStorage``, and
   pyrate-limiter ``Limiter(InMemoryBucket([Rate(...)]))``.
2. **Redis-backed**, against one real ``redis-server`` this script starts (``tests/servers.py``):
   seawall ``RedisTokenBucket`` / ``RedisWindowLimiter`` (one round trip per decision, pipelined
   on one connection per limiter) and ``RedisLeaseBucket`` (lease mode) vs ``limits``' async Redis
   moving window (and fixed window, for context), all through redis-py's asyncio client (with
   hiredis when installed), sequential awaits from one task and 32 concurrent tasks. A reference
   row times redis-py's own ``client.evalsha`` of ``return 1``: one round trip through the client's
   pool doing nothing, the most a limiter that takes a pooled connection per call could reach.
   Round trips and Redis commands per decision come from the ``INFO commandstats`` delta.
3. **Lease mode at a steady rate**: one ``RedisLeaseBucket`` decided on by a few tasks pausing
   between decisions (about 2,000 decisions/s offered), under a shared rate the load fits in and
   one it exceeds 2x: decisions/s, admitted against ``rate x T + burst``, and Redis round trips
   per decision (``INFO commandstats``).

The admitted/rejected mix is made exact and identical for every limiter by **batches**: each
batch of ``BATCH`` decisions runs on a fresh limit (a new limiter object, a new key, or a
flushed storage; set-up untimed) whose capacity is ``BATCH`` ("all admit": every decision
admits) or ``BATCH / 2`` ("half reject": the first half admits, the rest is refused), with a
one-hour window (token buckets: ``rate = capacity / 3600``) so nothing refills during a batch.
State therefore never holds more than ``BATCH`` entries, like a real "1,000 per hour" limit.
The rejected share actually observed is printed next to every figure.

Each figure is the **median** of ``--repeat`` runs (3 with ``--quick``, else 5). Runs are
interleaved across limiters (for Redis batch by batch, rotating which limiter goes first); a run
times whole batches with ``time.perf_counter`` until it has ``run`` seconds of measured time.

    .venv/bin/python bench/limiters.py --quick      # < 60 s
    .venv/bin/python bench/limiters.py              # longer runs

The last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import os
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from _harness import ROOT, emit_json, machine_info, note, print_table

sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import aiolimiter  # noqa: E402
import limits  # noqa: E402
import limits.aio.storage  # noqa: E402
import limits.aio.strategies  # noqa: E402
import pyrate_limiter  # noqa: E402
import redis.asyncio  # noqa: E402

from seawall.limit import SlidingWindow, TokenBucket  # noqa: E402
from seawall.limit._redis import RedisTokenBucket, RedisWindowLimiter  # noqa: E402
from seawall.limit._redis_lease import RedisLeaseBucket  # noqa: E402

BATCH: Final = 1024  # decisions per batch; capacity is BATCH (all admit) or BATCH // 2 (half reject)
WINDOW_S: Final = 3600.0  # nothing refills or expires within a batch
CONCURRENCY: Final = 32
SCENARIOS: Final = {"all_admit": BATCH, "half_reject": BATCH // 2}
# Commands the harness itself sends (snapshots, cleanup, connection set-up): not the limiter's.
HARNESS_COMMANDS: Final = ("info", "flushdb", "ping", "select", "hello", "client", "config")
FLOOR_LUA: Final = "return 1"  # one round trip doing nothing: redis-py's per-call path + network
SCRIPT_COMMANDS: Final = ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro", "script")


@dataclass(frozen=True, slots=True)
class Settings:
    run_s: float  # measured seconds per in-process run
    redis_run_s: float  # measured seconds per Redis run
    repeat: int


QUICK: Final = Settings(run_s=0.2, redis_run_s=0.3, repeat=3)
FULL: Final = Settings(run_s=1.0, redis_run_s=2.0, repeat=5)
#: Lease mode at a steady rate: shared rate per scenario (burst = 100 ms of it), tasks deciding
#: with a pause between decisions (asyncio sleeps >= 1 ms: about 2,000 decisions/s offered).
LEASE_SCENARIOS: Final = {"within_limit": 5000.0, "over_limit": 1000.0}
LEASE_TASKS: Final = 4
LEASE_PAUSE_S: Final = 0.002


@dataclass(slots=True)
class Runs:
    """Measured runs of one limiter in one scenario."""

    rates: list[float] = field(default_factory=list)
    decisions: int = 0
    admitted: int = 0

    def add(self, decisions: int, admitted: int, elapsed: float) -> None:
        self.rates.append(decisions / elapsed)
        self.decisions += decisions
        self.admitted += admitted

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    @property
    def rejected_share(self) -> float:
        return 1 - self.admitted / self.decisions if self.decisions else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_per_s": round(self.median),
            "best_per_s": round(max(self.rates)),
            "runs_per_s": [round(r) for r in self.rates],
            "decisions": self.decisions,
            "rejected_share": round(self.rejected_share, 4),
        }


# --------------------------------------------------------------------------------------------------
# in-process limiters: each case runs ``batches`` timed batches of BATCH decisions on fresh limits
# and returns (decisions, admitted, measured seconds). Set-up between batches is not timed.

BatchRunner = Callable[[int, int], tuple[int, int, float]]


def _seawall_token_bucket(capacity: int, batches: int) -> tuple[int, int, float]:
    elapsed = admitted = 0
    perf = time.perf_counter
    for _ in range(batches):
        decide = TokenBucket(rate=capacity / WINDOW_S, burst=capacity).try_acquire
        start = perf()
        for _ in range(BATCH):
            if decide():
                admitted += 1
        elapsed += perf() - start
    return batches * BATCH, admitted, elapsed


def _seawall_sliding_window(capacity: int, batches: int) -> tuple[int, int, float]:
    elapsed = admitted = 0
    perf = time.perf_counter
    for _ in range(batches):
        decide = SlidingWindow(limit=capacity, window=WINDOW_S).try_acquire
        start = perf()
        for _ in range(BATCH):
            if decide():
                admitted += 1
        elapsed += perf() - start
    return batches * BATCH, admitted, elapsed


def _limits_memory(strategy_cls: type[limits.strategies.RateLimiter]) -> BatchRunner:
    storage = limits.storage.MemoryStorage()
    hit = strategy_cls(storage).hit

    def run(capacity: int, batches: int) -> tuple[int, int, float]:
        item = limits.RateLimitItemPerHour(capacity)
        elapsed = admitted = 0
        perf = time.perf_counter
        for _ in range(batches):
            storage.reset()
            start = perf()
            for _ in range(BATCH):
                if hit(item, "client"):
                    admitted += 1
            elapsed += perf() - start
        return batches * BATCH, admitted, elapsed

    return run


def _pyrate() -> BatchRunner:
    # One Limiter per capacity (each owns a leaker thread); the bucket is flushed between batches.
    limiters: dict[int, tuple[pyrate_limiter.Limiter, pyrate_limiter.InMemoryBucket]] = {}

    def run(capacity: int, batches: int) -> tuple[int, int, float]:
        if capacity not in limiters:
            bucket = pyrate_limiter.InMemoryBucket(
                [pyrate_limiter.Rate(capacity, pyrate_limiter.Duration.HOUR)]
            )
            limiters[capacity] = (pyrate_limiter.Limiter(bucket), bucket)
        limiter, bucket = limiters[capacity]
        try_acquire = limiter.try_acquire
        elapsed = admitted = 0
        perf = time.perf_counter
        for _ in range(batches):
            bucket.flush()
            start = perf()
            for _ in range(BATCH):
                if try_acquire("client", blocking=False):
                    admitted += 1
            elapsed += perf() - start
        return batches * BATCH, admitted, elapsed

    return run


def _aiolimiter(loop: asyncio.AbstractEventLoop) -> BatchRunner:
    async def batches_async(capacity: int, batches: int) -> tuple[int, int, float]:
        elapsed = admitted = 0
        perf = time.perf_counter
        for _ in range(batches):
            limiter = aiolimiter.AsyncLimiter(max_rate=capacity, time_period=WINDOW_S)
            has_capacity, acquire = limiter.has_capacity, limiter.acquire
            start = perf()
            for _ in range(BATCH):
                if has_capacity():
                    await acquire()  # completes without suspending: capacity was just checked
                    admitted += 1
            elapsed += perf() - start
        return batches * BATCH, admitted, elapsed

    def run(capacity: int, batches: int) -> tuple[int, int, float]:
        return loop.run_until_complete(batches_async(capacity, batches))

    return run


@dataclass(frozen=True, slots=True)
class LocalCase:
    name: str
    label: str
    measures: str
    runner: BatchRunner


def local_cases(loop: asyncio.AbstractEventLoop) -> list[LocalCase]:
    return [
        LocalCase(
            "seawall_token_bucket",
            "seawall TokenBucket",
            "TokenBucket(rate, burst).try_acquire()",
            _seawall_token_bucket,
        ),
        LocalCase(
            "seawall_sliding_window",
            "seawall SlidingWindow",
            "SlidingWindow(limit, window, buckets=10).try_acquire()",
            _seawall_sliding_window,
        ),
        LocalCase(
            "aiolimiter",
            f"aiolimiter {_version('aiolimiter')}",
            "inside a coroutine: if has_capacity(): await acquire() (never suspends)",
            _aiolimiter(loop),
        ),
        LocalCase(
            "limits_moving_window",
            f"limits {_version('limits')} moving window",
            "MovingWindowRateLimiter(MemoryStorage()).hit(item, 'client')",
            _limits_memory(limits.strategies.MovingWindowRateLimiter),
        ),
        LocalCase(
            "limits_fixed_window",
            f"limits {_version('limits')} fixed window",
            "FixedWindowRateLimiter(MemoryStorage()).hit(item, 'client')",
            _limits_memory(limits.strategies.FixedWindowRateLimiter),
        ),
        LocalCase(
            "pyrate_limiter",
            f"pyrate-limiter {_version('pyrate-limiter')}",
            "Limiter(InMemoryBucket([Rate(n, HOUR)])).try_acquire('client', blocking=False)",
            _pyrate(),
        ),
    ]


def measure_local(settings: Settings) -> tuple[list[LocalCase], dict[str, dict[str, Runs]]]:
    loop = asyncio.new_event_loop()
    cases = local_cases(loop)
    results = {c.name: {s: Runs() for s in SCENARIOS} for c in cases}
    # Size each run from a calibration batch so a run lasts about settings.run_s.
    batches: dict[tuple[str, str], int] = {}
    for case in cases:
        for scenario, capacity in SCENARIOS.items():
            case.runner(capacity, 3)  # warm-up
            _, _, elapsed = case.runner(capacity, 5)
            batches[case.name, scenario] = max(3, round(settings.run_s / (elapsed / 5)))
    try:
        for round_no in range(1, settings.repeat + 1):
            note(f"in-process round {round_no}/{settings.repeat}")
            for case in cases:
                for scenario, capacity in SCENARIOS.items():
                    gc.collect()
                    decisions, admitted, elapsed = case.runner(capacity, batches[case.name, scenario])
                    results[case.name][scenario].add(decisions, admitted, elapsed)
                    note(f"  {case.name:<24} {scenario:<12} {decisions / elapsed:>12,.0f} decisions/s")
    finally:
        loop.close()
    return cases, results


# --------------------------------------------------------------------------------------------------
# Redis-backed limiters

Decide = Callable[[str], Awaitable[bool]]


@dataclass(slots=True)
class RedisCase:
    name: str
    label: str
    measures: str
    make: Callable[[int], Decide]  # capacity -> decide(key)
    close: Callable[[], Awaitable[None]]
    #: Decisions not made by Redis (seawall's local fallback); must stay 0.
    local_decisions: Callable[[], int] = lambda: 0
    results: dict[tuple[str, int], Runs] = field(default_factory=dict)
    commands: dict[str, int] = field(default_factory=dict)  # commandstats delta over timed runs
    decisions: int = 0
    pending: tuple[int, int, float] = (0, 0, 0.0)  # the current run: decisions, admitted, seconds


async def _commandstats(admin: redis.asyncio.Redis) -> dict[str, int]:
    info = await admin.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(stats["calls"]) for name, stats in info.items()}


async def _redis_batch(decide: Decide, key: str, concurrency: int) -> tuple[int, float]:
    """BATCH decisions on ``key``: sequential awaits, or ``concurrency`` tasks sharing the batch."""
    perf = time.perf_counter
    if concurrency == 1:
        admitted = 0
        start = perf()
        for _ in range(BATCH):
            if await decide(key):
                admitted += 1
        return admitted, perf() - start

    async def worker(count: int) -> int:
        admitted = 0
        for _ in range(count):
            if await decide(key):
                admitted += 1
        return admitted

    per_task = BATCH // concurrency
    start = perf()
    counts = await asyncio.gather(*(worker(per_task) for _ in range(concurrency)))
    return sum(counts), perf() - start


async def _redis_run(
    case: RedisCase, admin: redis.asyncio.Redis, capacity: int, concurrency: int, run_s: float, tag: str
) -> tuple[int, int, float]:
    decide = case.make(capacity)
    decisions = admitted = 0
    elapsed = 0.0
    batch_no = 0
    while True:  # at least one batch
        batch_no += 1
        got, took = await _redis_batch(decide, f"{tag}-{batch_no}", concurrency)
        await admin.flushdb()  # fresh limit for the next batch (scripts stay cached)
        decisions += BATCH
        admitted += got
        elapsed += took
        if elapsed >= run_s:
            return decisions, admitted, elapsed


def redis_cases(url: str) -> list[RedisCase]:
    seawall_client = redis.asyncio.Redis.from_url(url)
    seawall_tb: dict[int, RedisTokenBucket] = {}
    seawall_sw: dict[int, RedisWindowLimiter] = {}
    # Lease state is per limiter and key: a fresh limiter per run, since keys repeat across runs.
    seawall_lease: list[RedisLeaseBucket] = []

    def make_tb(capacity: int) -> Decide:
        if capacity not in seawall_tb:
            seawall_tb[capacity] = RedisTokenBucket(
                client=seawall_client, key=f"bench:tb:{capacity}", rate=capacity / WINDOW_S, burst=capacity,
                timeout=5.0,
            )  # fmt: skip
        try_acquire = seawall_tb[capacity].try_acquire
        return lambda key: try_acquire(key_suffix=key)

    def make_sw(capacity: int) -> Decide:
        if capacity not in seawall_sw:
            seawall_sw[capacity] = RedisWindowLimiter(
                client=seawall_client,
                key=f"bench:sw:{capacity}",
                limit=capacity,
                window=WINDOW_S,
                timeout=5.0,
            )
        try_acquire = seawall_sw[capacity].try_acquire
        return lambda key: try_acquire(key_suffix=key)

    def make_lease(capacity: int) -> Decide:
        limiter = RedisLeaseBucket(
            client=seawall_client, key=f"bench:lease:{capacity}", rate=capacity / WINDOW_S, burst=capacity,
            timeout=5.0,
        )  # fmt: skip
        seawall_lease.append(limiter)
        try_acquire = limiter.try_acquire
        return lambda key: try_acquire(key_suffix=key)

    async def close_seawall() -> None:
        for limiter in [*seawall_tb.values(), *seawall_sw.values(), *seawall_lease]:
            await limiter.aclose()

    limits_uri = "async+" + url
    moving_storage = limits.aio.storage.RedisStorage(limits_uri, implementation="redispy")
    fixed_storage = limits.aio.storage.RedisStorage(limits_uri, implementation="redispy")
    moving_hit = limits.aio.strategies.MovingWindowRateLimiter(moving_storage).hit
    fixed_hit = limits.aio.strategies.FixedWindowRateLimiter(fixed_storage).hit

    def make_limits(hit: Callable[..., Awaitable[bool]]) -> Callable[[int], Decide]:
        def make(capacity: int) -> Decide:
            item = limits.RateLimitItemPerHour(capacity)
            return lambda key: hit(item, key)

        return make

    async def close_limits(storage: limits.aio.storage.RedisStorage) -> None:
        await storage.bridge.get_connection().aclose()

    async def close_all() -> None:
        await close_seawall()
        await seawall_client.aclose()

    floor_sha: list[str] = []

    def make_floor(capacity: int) -> Decide:
        del capacity

        async def decide(key: str) -> bool:
            if not floor_sha:
                floor_sha.append(await seawall_client.script_load(FLOOR_LUA))
            return bool(await seawall_client.evalsha(floor_sha[0], 1, key))

        return decide

    lv = _version("limits")
    return [
        RedisCase(
            "redis_py_floor",
            "redis-py EVALSHA 'return 1'",
            "await client.evalsha(sha, 1, key) of a script that only returns 1 (always 'admits')",
            make_floor,
            _noop,
        ),
        RedisCase(
            "seawall_redis_token_bucket",
            "seawall RedisTokenBucket",
            "await RedisTokenBucket(...).try_acquire(key_suffix=key)",
            make_tb,
            _noop,
            lambda: sum(lim.statistics().local_decisions for lim in seawall_tb.values()),
        ),
        RedisCase(
            "seawall_redis_window",
            "seawall RedisWindowLimiter",
            "await RedisWindowLimiter(...).try_acquire(key_suffix=key)",
            make_sw,
            _noop,
            lambda: sum(lim.statistics().local_decisions for lim in seawall_sw.values()),
        ),
        RedisCase(
            "seawall_redis_lease",
            "seawall RedisLeaseBucket (lease)",
            "await RedisLeaseBucket(...).try_acquire(key_suffix=key): local decisions on leased tokens",
            make_lease,
            close_all,
            lambda: sum(lim.statistics().local_decisions for lim in seawall_lease),
        ),
        RedisCase(
            "limits_redis_moving_window",
            f"limits {lv} moving window",
            "await aio MovingWindowRateLimiter(aio RedisStorage(redispy)).hit(item, key)",
            make_limits(moving_hit),
            lambda: close_limits(moving_storage),
        ),
        RedisCase(
            "limits_redis_fixed_window",
            f"limits {lv} fixed window",
            "await aio FixedWindowRateLimiter(aio RedisStorage(redispy)).hit(item, key)",
            make_limits(fixed_hit),
            lambda: close_limits(fixed_storage),
        ),
    ]


async def _noop() -> None:
    return None


async def _redis_round(
    cases: list[RedisCase],
    admin: redis.asyncio.Redis,
    capacity: int,
    concurrency: int,
    run_s: float,
    round_no: int,
) -> None:
    """One run of every case, interleaved batch by batch (rotating who goes first), so that load
    from other processes on a shared machine hits all cases alike instead of whichever ran then."""
    decides = {case.name: case.make(capacity) for case in cases}
    for case in cases:
        case.pending = (0, 0, 0.0)
    gc.collect()
    batch_no = 0
    while min(case.pending[2] for case in cases) < run_s:
        batch_no += 1
        shift = batch_no % len(cases)
        for case in cases[shift:] + cases[:shift]:
            if case.pending[2] >= run_s:
                continue  # this one has its measured time (lease mode needs many more batches)
            before = await _commandstats(admin)
            got, took = await _redis_batch(decides[case.name], f"r{round_no}-{batch_no}", concurrency)
            after = await _commandstats(admin)
            await admin.flushdb()  # fresh limit for the next batch (scripts stay cached)
            for name, calls in after.items():
                delta = calls - before.get(name, 0)
                if delta and name.split("|")[0] not in HARNESS_COMMANDS:
                    case.commands[name] = case.commands.get(name, 0) + delta
            decisions, admitted, elapsed = case.pending
            case.pending = (decisions + BATCH, admitted + got, elapsed + took)


async def measure_redis(url: str, settings: Settings) -> list[RedisCase]:
    admin = redis.asyncio.Redis.from_url(url)
    cases = redis_cases(url)
    modes = (1, CONCURRENCY)
    try:
        for case in cases:  # warm-up: connections opened, scripts cached
            for capacity in SCENARIOS.values():
                for concurrency in modes:
                    await _redis_run(case, admin, capacity, concurrency, 0.0, "warm")
            for scenario in SCENARIOS:
                for concurrency in modes:
                    case.results[scenario, concurrency] = Runs()
        for round_no in range(1, settings.repeat + 1):
            note(f"redis round {round_no}/{settings.repeat}")
            for scenario, capacity in SCENARIOS.items():
                for concurrency in modes:
                    await _redis_round(cases, admin, capacity, concurrency, settings.redis_run_s, round_no)
                    for case in cases:
                        decisions, admitted, elapsed = case.pending
                        case.decisions += decisions
                        case.results[scenario, concurrency].add(decisions, admitted, elapsed)
                        note(
                            f"  {case.name:<28} {scenario:<12} x{concurrency:<3}"
                            f" {decisions / elapsed:>10,.0f} decisions/s"
                        )
        for case in cases:
            if case.local_decisions():
                raise RuntimeError(f"{case.name}: {case.local_decisions()} decisions fell back to local")
    finally:
        for case in cases:
            await case.close()
        await admin.aclose()
    return cases


def round_trips(case: RedisCase) -> tuple[float, float]:
    """(script calls per decision, all Redis commands per decision incl. those run inside Lua)."""
    scripts = sum(calls for name, calls in case.commands.items() if name.split("|")[0] in SCRIPT_COMMANDS)
    total = sum(case.commands.values())
    return scripts / case.decisions, total / case.decisions


# --------------------------------------------------------------------------------------------------
# lease mode at a steady rate


@dataclass(slots=True)
class LeaseRuns:
    """Paced runs of one lease scenario."""

    rate: float
    decision_rates: list[float] = field(default_factory=list)
    round_trips: list[float] = field(default_factory=list)  # EVALSHA (and EVAL) per decision
    commands: list[float] = field(default_factory=list)  # every command per decision
    accuracy: list[float] = field(default_factory=list)  # admitted / expected
    runs: list[dict[str, Any]] = field(default_factory=list)


async def _lease_run(admin: redis.asyncio.Redis, url: str, rate: float, run_s: float) -> dict[str, Any]:
    """One paced run on a fresh key: LEASE_TASKS tasks deciding, pausing LEASE_PAUSE_S in between."""
    client = redis.asyncio.Redis.from_url(url)
    burst = max(1, round(rate * 0.1))
    limiter = RedisLeaseBucket(client=client, key="bench:lease-paced", rate=rate, burst=burst, timeout=5.0)
    await admin.flushdb()
    if not await limiter.prepare():
        raise RuntimeError("lease bench: Redis not ready")
    before = await _commandstats(admin)
    decisions = admitted = 0
    start = time.perf_counter()
    end = start + run_s

    async def worker() -> None:
        nonlocal decisions, admitted
        while time.perf_counter() < end:
            decisions += 1
            if await limiter.try_acquire():
                admitted += 1
            await asyncio.sleep(LEASE_PAUSE_S)

    await asyncio.gather(*(worker() for _ in range(LEASE_TASKS)))
    elapsed = time.perf_counter() - start
    after = await _commandstats(admin)
    stats = limiter.statistics()
    await limiter.aclose()
    await client.aclose()
    if stats.local_decisions:
        raise RuntimeError(f"lease bench: {stats.local_decisions} decisions fell back to local")
    delta = {
        name: calls - before.get(name, 0)
        for name, calls in after.items()
        if calls - before.get(name, 0) and name.split("|")[0] not in HARNESS_COMMANDS
    }
    scripts = sum(calls for name, calls in delta.items() if name.split("|")[0] in SCRIPT_COMMANDS)
    expected = min(decisions, rate * elapsed + burst)
    return {
        "seconds": round(elapsed, 3),
        "decisions": decisions,
        "decisions_per_s": round(decisions / elapsed),
        "admitted": admitted,
        "held_at_end": stats.held,  # leased, not yet spent: given back by aclose()
        "expected": round(expected),
        "accuracy": round(admitted / expected, 4),
        "round_trips": scripts,
        "round_trips_per_decision": round(scripts / decisions, 4),
        "commands_per_decision": round(sum(delta.values()) / decisions, 4),
        "burst": burst,
    }


async def measure_lease(url: str, settings: Settings) -> dict[str, LeaseRuns]:
    admin = redis.asyncio.Redis.from_url(url)
    results = {name: LeaseRuns(rate) for name, rate in LEASE_SCENARIOS.items()}
    run_s = max(1.0, 2 * settings.redis_run_s)
    try:
        for round_no in range(1, settings.repeat + 1):
            note(f"lease round {round_no}/{settings.repeat}")
            for name, runs in results.items():
                run = await _lease_run(admin, url, runs.rate, run_s)
                runs.decision_rates.append(run["decisions_per_s"])
                runs.round_trips.append(run["round_trips_per_decision"])
                runs.commands.append(run["commands_per_decision"])
                runs.accuracy.append(run["accuracy"])
                runs.runs.append(run)
                note(
                    f"  {name:<14} {run['decisions_per_s']:>7,} decisions/s, admitted {run['admitted']:,}"
                    f" of {run['expected']:,} expected, {run['round_trips_per_decision']:.4f} round trips/dec"
                )
    finally:
        await admin.aclose()
    return results


# --------------------------------------------------------------------------------------------------
# reporting


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x"


def report_local(cases: list[LocalCase], results: dict[str, dict[str, Runs]]) -> dict[str, Any]:
    tb = results["seawall_token_bucket"]
    sw = results["seawall_sliding_window"]
    rows = []
    for case in cases:
        r = results[case.name]
        rows.append([
            case.label,
            _fmt_rate(r["all_admit"].median),
            _fmt_rate(r["half_reject"].median),
            f"{100 * r['half_reject'].rejected_share:.1f}%",
            f"{_ratio(tb['all_admit'].median, r['all_admit'].median)} / "
            f"{_ratio(tb['half_reject'].median, r['half_reject'].median)}",
            f"{_ratio(sw['all_admit'].median, r['all_admit'].median)} / "
            f"{_ratio(sw['half_reject'].median, r['half_reject'].median)}",
        ])  # fmt: skip
    print("In-process decisions/s (single thread; median of runs)")
    print_table(
        [
            "limiter",
            "all admit /s",
            "half reject /s",
            "rejected",
            "TokenBucket ÷ this",
            "SlidingWindow ÷ this",
        ],
        rows,
    )
    print()
    for case in cases:
        print(f"  {case.label}: {case.measures}")
    print()
    return {
        case.name: {
            "measures": case.measures,
            **{s: results[case.name][s].as_dict() for s in SCENARIOS},
            "seawall_token_bucket_ratio": {
                s: round(tb[s].median / results[case.name][s].median, 3) for s in SCENARIOS
            },
            "seawall_sliding_window_ratio": {
                s: round(sw[s].median / results[case.name][s].median, 3) for s in SCENARIOS
            },
        }
        for case in cases
    }


def report_redis(cases: list[RedisCase]) -> dict[str, Any]:
    by_name = {c.name: c for c in cases}
    peer = by_name["limits_redis_moving_window"]
    rows = []
    out: dict[str, Any] = {}
    for case in cases:
        scripts, total = round_trips(case)
        out[case.name] = {
            "measures": case.measures,
            "round_trips_per_decision": round(scripts, 4),
            "redis_commands_per_decision": round(total, 4),
            "commandstats_per_decision": {
                k: round(v / case.decisions, 4) for k, v in sorted(case.commands.items())
            },
        }
        for concurrency in (1, CONCURRENCY):
            admit = case.results["all_admit", concurrency]
            half = case.results["half_reject", concurrency]
            p_admit = peer.results["all_admit", concurrency].median
            p_half = peer.results["half_reject", concurrency].median
            rows.append([
                case.label,
                str(concurrency),
                _fmt_rate(admit.median),
                _fmt_rate(half.median),
                f"{100 * half.rejected_share:.1f}%",
                f"{scripts:.3f}",
                f"{total:.2f}",
                f"{_ratio(admit.median, p_admit)} / {_ratio(half.median, p_half)}",
            ])  # fmt: skip
            out[case.name][f"concurrency_{concurrency}"] = {
                "all_admit": admit.as_dict(),
                "half_reject": half.as_dict(),
                "ratio_to_limits_moving_window": {
                    "all_admit": round(admit.median / p_admit, 3),
                    "half_reject": round(half.median / p_half, 3),
                },
            }
    print(
        f"Redis-backed decisions/s (one redis-server, redis-py asyncio {_version('redis')}; median of runs)"
    )
    print_table(
        [
            "limiter", "tasks", "all admit /s", "half reject /s", "rejected", "round trips/dec",
            "cmds/dec", "this ÷ limits moving",
        ],
        rows,
    )  # fmt: skip
    print()
    for case in cases:
        print(f"  {case.label}: {case.measures}")
    print(
        "  round trips/dec = EVAL/EVALSHA/SCRIPT calls ÷ decisions; cmds/dec = every command in the"
        " INFO commandstats delta (incl. those run inside Lua) ÷ decisions"
    )
    print()
    return out


def report_lease(results: dict[str, LeaseRuns]) -> dict[str, Any]:
    rows = []
    out: dict[str, Any] = {}
    median = statistics.median
    for name, runs in results.items():
        admitted = median(r["admitted"] for r in runs.runs)
        expected = median(r["expected"] for r in runs.runs)
        held = median(r["held_at_end"] for r in runs.runs)
        rows.append([
            name.replace("_", " "),
            _fmt_rate(runs.rate),
            _fmt_rate(median(runs.decision_rates)),
            f"{admitted:,.0f} / {expected:,.0f}",
            f"{median(runs.accuracy):.4f}",
            f"{held:,.0f}",
            f"{median(runs.round_trips):.4f}",
            f"{median(runs.commands):.3f}",
        ])  # fmt: skip
        out[name] = {
            "shared_rate_per_s": runs.rate,
            "median_decisions_per_s": round(median(runs.decision_rates)),
            "median_round_trips_per_decision": round(median(runs.round_trips), 4),
            "max_round_trips_per_decision": round(max(runs.round_trips), 4),
            "median_commands_per_decision": round(median(runs.commands), 4),
            "median_admitted_over_expected": round(median(runs.accuracy), 4),
            "runs": runs.runs,
        }
    print(
        f"Lease mode at a steady rate (one process, {LEASE_TASKS} tasks pausing {LEASE_PAUSE_S * 1000:g} ms"
        " between decisions; median of runs)"
    )
    print_table(
        [
            "scenario", "shared rate /s", "decisions /s", "admitted / rate x T + burst", "ratio",
            "leased, unspent at end", "round trips/dec", "cmds/dec",
        ],
        rows,
    )  # fmt: skip
    print(
        "  expected = min(decisions, rate x T + burst), burst = 100 ms of the rate; unspent tokens go back"
        " to the bucket at aclose(); round trips/dec = EVALSHA/EVAL calls ÷ decisions (INFO commandstats)"
    )
    print()
    return out


def _pin(redis_pid: int | None, enabled: bool) -> str:
    if not enabled:
        return "not pinned (--no-pin)"
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return f"not pinned (only {len(cpus)} usable CPU)"
    os.sched_setaffinity(0, {cpus[0]})
    if redis_pid is not None:
        os.sched_setaffinity(redis_pid, {cpus[1]})
        return f"bench process on CPU {cpus[0]}, redis-server on CPU {cpus[1]}"
    return f"bench process on CPU {cpus[0]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (whole script under 60 s)")
    parser.add_argument("--repeat", type=int, help="runs per limiter and scenario; medians are reported")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis-backed part")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the bench and redis-server to CPUs")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    settings = Settings(base.run_s, base.redis_run_s, args.repeat or base.repeat)
    started = time.monotonic()
    info = machine_info()
    for dist in ("aiolimiter", "limits", "pyrate-limiter", "redis"):
        info[dist] = _version(dist)

    redis_server = None
    redis_note = ""
    if args.no_redis:
        redis_note = "skipped (--no-redis)"
    elif shutil.which("redis-server") is None:
        redis_note = "skipped (redis-server not on PATH)"
    else:
        from tests.servers import start_redis

        redis_server = start_redis().start()
        info["redis_server"] = redis_server.call("INFO", "server").split("redis_version:")[1].split()[0]
    try:
        pinning = _pin(
            redis_server.process.pid if redis_server and redis_server.process else None, not args.no_pin
        )
        info["pinning"] = pinning
        note(f"pinning: {pinning}")

        cases, local_results = measure_local(settings)
        redis_cases_done = asyncio.run(measure_redis(redis_server.url, settings)) if redis_server else []
        lease_results = asyncio.run(measure_lease(redis_server.url, settings)) if redis_server else {}
    finally:
        if redis_server is not None:
            redis_server.close()

    print(
        f"machine: {info['cpu']}, {info['logical_cpus']} logical CPUs ({info['usable_cpus']} usable), "
        f"{info['os']}, {info['python']}, load avg {info['loadavg_1m_at_start']}; {pinning}"
    )
    print(
        f"libraries: aiolimiter {info['aiolimiter']}, limits {info['limits']}, "
        f"pyrate-limiter {info['pyrate-limiter']}, redis-py {info['redis']}, "
        f"redis-server {info.get('redis_server', '-')}"
    )
    print(
        f"method: batches of {BATCH} decisions on a fresh limit (capacity {BATCH} = all admit, "
        f"{BATCH // 2} = half reject, {WINDOW_S:.0f} s window); median of {settings.repeat} runs of "
        f">= {settings.run_s} s (in-process) / {settings.redis_run_s} s (Redis) measured time"
    )
    print()
    local_json = report_local(cases, local_results)
    redis_json = report_redis(redis_cases_done) if redis_cases_done else {"status": redis_note}
    lease_json = report_lease(lease_results) if lease_results else {"status": redis_note}
    if redis_note:
        print(f"Redis part {redis_note}")
    elapsed = time.monotonic() - started
    info["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(f"total {elapsed:.1f} s, load avg at end {info['loadavg_1m_at_end']}")
    emit_json({
        "bench": "limiters",
        "quick": args.quick,
        "machine": info,
        "settings": {
            "batch": BATCH, "window_s": WINDOW_S, "concurrency": CONCURRENCY, "repeat": settings.repeat,
            "run_s": settings.run_s, "redis_run_s": settings.redis_run_s, "statistic": "median",
            "lease_tasks": LEASE_TASKS, "lease_pause_s": LEASE_PAUSE_S,
            "lease_scenarios": LEASE_SCENARIOS,
        },
        "in_process": local_json,
        "redis": redis_json,
        "lease": lease_json,
        "elapsed_s": round(elapsed, 1),
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
