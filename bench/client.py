"""Outbound-call benchmark: what seawall's httpx transport costs, and what it buys.

Real local servers (granian, one worker each, pinned to one CPU; this process on the other),
four scenarios in one run:

- **overhead**: ``GET /hello`` from a raw ASGI app, through a plain ``httpx.AsyncClient`` and through
  one on :class:`~seawall.http.client.SeawallTransport` with the default policy (p2c, adaptive
  breaker, retries within the budget, outlier ejection, deadlines, call chain). Time per request
  at 1 and at 8 requests in flight, in adjacent pairs of batches; the figure is the median of the
  pairs' ratios. Floor: <= 1.10x plain.
- **balancing**: three instances, one 50 ms slower; 2 calls in flight (few enough that latencies
  are the servers' and not this client's own queue, which would inflate the fast instances' EWMA
  on a busy machine) through the transport with p2c-EWMA and with round robin. Floor: p99 with
  p2c at least 5x lower.
- **failing dependency**: a dependency answering 500 to everything, called at a fixed rate for
  10 s by seawall (default retries and breaker), by seawall without its breaker (the retry budget
  alone), and by ``tenacity`` with 3 attempts, each on its own server, at the same time. Figure:
  requests that reached the dependency per call made. Floor: seawall <= 1.2 (tenacity: 3.0).
- **breaker decision**: the figures of ``bench/breaker.py`` (run as a subprocess), whose floor is
  allow + record <= 400 ns.

    .venv/bin/python bench/client.py --quick      # < 60 s
    .venv/bin/python bench/client.py              # more rounds and requests

The machine may be shared: every figure is printed with the load average, and the last stdout line
is one JSON object with all of them. The exit status is non-zero only when the harness fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from _harness import (
    PYTHON,
    ROOT,
    HarnessError,
    Server,
    Target,
    describe_machine,
    detect_pinning,
    emit_json,
    machine_info,
    note,
    print_table,
)

sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import httpx  # noqa: E402
import tenacity  # noqa: E402

from seawall.errors import Rejected  # noqa: E402
from seawall.http.client import Dependency, SeawallTransport  # noqa: E402

OVERHEAD_FLOOR: Final = 1.10  # issue 9: <= 10% more time per request than plain httpx
P2C_FLOOR: Final = 5.0  # issue 9: p99 with p2c-EWMA at least 5x lower than round robin
FAILING_FLOOR: Final = 1.2  # issue 9: requests reaching a 100%-failing dependency per call
BREAKER_FLOOR_NS: Final = 400.0  # issue 9 (bench/breaker.py): allow + record
HELLO: Final = {"message": "hello"}
APPS: Final = "bench.apps.client_backend"
BALANCE_IN_FLIGHT: Final = 2


@dataclass(frozen=True, slots=True)
class Settings:
    rounds: int  # overhead: pairs of batches (plain, seawall), order alternating
    requests: int  # requests per batch
    balance_requests: int  # calls per balancer (BALANCE_IN_FLIGHT at a time)
    failing_s: float  # seconds of calls to the failing dependency
    failing_rate: float  # calls per second to it


QUICK: Final = Settings(rounds=12, requests=200, balance_requests=3000, failing_s=10.0, failing_rate=100.0)
FULL: Final = Settings(rounds=40, requests=400, balance_requests=12000, failing_s=10.0, failing_rate=100.0)


def _limits() -> httpx.Limits:
    return httpx.Limits(max_connections=100, max_keepalive_connections=100)


def _seawall(name: str, ports: list[int], **settings: Any) -> httpx.AsyncClient:
    dependency = Dependency(name=name, instances=[f"127.0.0.1:{p}" for p in ports], **settings)
    return httpx.AsyncClient(transport=SeawallTransport(dependency, service="bench"), timeout=None)


async def _drive(get: Callable[[], Awaitable[httpx.Response]], requests: int, in_flight: int) -> list[float]:
    """``requests`` calls, ``in_flight`` at a time; each call's latency in seconds."""
    latencies: list[float] = []
    per_worker = requests // in_flight

    async def worker() -> None:
        for _ in range(per_worker):
            start = time.perf_counter()
            response = await get()
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise HarnessError(f"unexpected status {response.status_code}")

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return latencies


# -- overhead ----------------------------------------------------------------------------------------


async def overhead(port: int, settings: Settings) -> dict[str, Any]:
    """Time per request, plain vs seawall, in adjacent pairs of batches (the order alternating), so
    a slow spell of a shared machine hits both sides of a pair: the figure is the median of the
    pairs' ratios, beside the median times."""
    plain = httpx.AsyncClient(limits=_limits())
    seawall = _seawall("hello", [port])
    clients: dict[str, tuple[httpx.AsyncClient, str]] = {
        "plain": (plain, f"http://127.0.0.1:{port}/hello"),
        "seawall": (seawall, "http://hello/hello"),
    }
    out: dict[str, Any] = {}
    for in_flight in (1, 8):
        wall: dict[str, list[float]] = {name: [] for name in clients}
        cpu: dict[str, list[float]] = {name: [] for name in clients}
        for client, url in clients.values():  # warm-up: connections, p2c, caches
            await _drive(lambda c=client, u=url: c.get(u), 200, in_flight)  # type: ignore[misc]
        for r in range(settings.rounds):
            order = list(clients) if r % 2 == 0 else list(reversed(clients))
            for name in order:
                client, url = clients[name]
                start, start_cpu = time.perf_counter(), time.process_time()
                await _drive(lambda c=client, u=url: c.get(u), settings.requests, in_flight)  # type: ignore[misc]
                cpu[name].append((time.process_time() - start_cpu) / settings.requests)
                wall[name].append((time.perf_counter() - start) / settings.requests)
        ratios = [s / p for p, s in zip(wall["plain"], wall["seawall"], strict=True)]
        note(f"  overhead c={in_flight}: pair ratios " + " ".join(f"{x:.3f}" for x in ratios))
        medians = {name: statistics.median(v) for name, v in wall.items()}
        cpus = {name: statistics.median(v) for name, v in cpu.items()}
        out[f"c{in_flight}"] = {
            "plain_us": round(medians["plain"] * 1e6, 1),
            "seawall_us": round(medians["seawall"] * 1e6, 1),
            "added_us": round((medians["seawall"] - medians["plain"]) * 1e6, 1),
            "ratio": round(statistics.median(ratios), 3),
            "pair_ratios": [round(x, 3) for x in ratios],
            "client_cpu_plain_us": round(cpus["plain"] * 1e6, 1),
            "client_cpu_seawall_us": round(cpus["seawall"] * 1e6, 1),
        }
    out["in_process"] = await _in_process(settings)
    await plain.aclose()
    await seawall.aclose()
    return out


async def _in_process(settings: Settings) -> dict[str, float]:
    """The transport's own cost without a network: both clients on ``httpx.MockTransport``."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"message":"hello"}')

    mock = httpx.MockTransport(answer)
    dependency = Dependency(name="hello", instances=["127.0.0.1:8000"])
    clients = {
        "plain": (httpx.AsyncClient(transport=mock), "http://127.0.0.1:8000/hello"),
        "seawall": (
            httpx.AsyncClient(transport=SeawallTransport(dependency, service="bench", inner=mock)),
            "http://hello/hello",
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in clients}
    for r in range(settings.rounds):
        for name in list(clients) if r % 2 == 0 else list(reversed(clients)):
            client, url = clients[name]
            start = time.perf_counter()
            await _drive(lambda c=client, u=url: c.get(u), 1000, 1)  # type: ignore[misc]
            times[name].append((time.perf_counter() - start) / 1000)
    plain, seawall = (statistics.median(times[n]) for n in ("plain", "seawall"))
    return {"plain_us": round(plain * 1e6, 1), "seawall_us": round(seawall * 1e6, 1)}


# -- balancing ---------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def balancing(ports: list[int], slow_port: int, settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for balancer in ("p2c", "round_robin"):
        client = _seawall("backend", ports, balancer=balancer)
        await _drive(lambda c=client: c.get("http://backend/hello"), 200, BALANCE_IN_FLIGHT)  # type: ignore[misc]
        latencies = await _drive(
            lambda c=client: c.get("http://backend/hello"),  # type: ignore[misc]
            settings.balance_requests,
            BALANCE_IN_FLIGHT,
        )
        transport = client._transport
        assert isinstance(transport, SeawallTransport)
        picks = {
            i.instance.port: i.picks for i in transport.upstream("backend").balancer.statistics().instances
        }
        total = sum(picks.values())
        out[balancer] = {
            "requests": len(latencies),
            "mean_ms": round(statistics.fmean(latencies) * 1e3, 2),
            "p50_ms": round(_pct(latencies, 0.50) * 1e3, 2),
            "p99_ms": round(_pct(latencies, 0.99) * 1e3, 2),
            "slow_share": round(picks.get(slow_port, 0) / total, 4) if total else None,
        }
        note(f"  {balancer}: p99 {out[balancer]['p99_ms']} ms, slow share {out[balancer]['slow_share']}")
        await client.aclose()
    out["p99_ratio"] = round(out["round_robin"]["p99_ms"] / out["p2c"]["p99_ms"], 2)
    return out


# -- failing dependency ------------------------------------------------------------------------------


async def _at_rate(call: Callable[[], Awaitable[None]], seconds: float, rate: float) -> int:
    """Start ``call()`` every ``1/rate`` s for ``seconds`` (open loop); wait for all; return calls."""
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    n = int(seconds * rate)
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(call()))
    await asyncio.gather(*tasks)
    return n


async def failing(ports: dict[str, int], settings: Settings) -> dict[str, Any]:
    seawall = _seawall("failing", [ports["seawall"]])
    budget_only = _seawall("failing", [ports["seawall_no_breaker"]], breaker=None)
    plain = httpx.AsyncClient(limits=_limits())
    outcomes: dict[str, dict[str, int]] = {name: {} for name in ports}

    def count(name: str, what: str) -> None:
        outcomes[name][what] = outcomes[name].get(what, 0) + 1

    def seawall_call(name: str, client: httpx.AsyncClient) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            try:
                response = await client.get("http://failing/hello")
                count(name, str(response.status_code))
            except Rejected as exc:
                count(name, exc.reason)

        return call

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        retry=tenacity.retry_if_result(lambda r: r.status_code >= 500),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    async def tenacity_get() -> httpx.Response:
        return await plain.get(f"http://127.0.0.1:{ports['tenacity']}/hello")

    async def tenacity_call() -> None:
        response = await tenacity_get()
        count("tenacity", str(response.status_code))

    calls = await asyncio.gather(
        _at_rate(seawall_call("seawall", seawall), settings.failing_s, settings.failing_rate),
        _at_rate(seawall_call("seawall_no_breaker", budget_only), settings.failing_s, settings.failing_rate),
        _at_rate(tenacity_call, settings.failing_s, settings.failing_rate),
    )
    out: dict[str, Any] = {"seconds": settings.failing_s, "rate": settings.failing_rate}
    for (name, port), made in zip(ports.items(), calls, strict=True):
        hits = int((await plain.get(f"http://127.0.0.1:{port}/hits")).json()["hits"])
        out[name] = {
            "calls": made,
            "requests": hits,
            "per_call": round(hits / made, 3),
            "outcomes": outcomes[name],
        }
        note(f"  {name}: {hits} requests for {made} calls ({hits / made:.2f} per call)")
    for client in (seawall, budget_only, plain):
        await client.aclose()
    return out


# -- breaker decision --------------------------------------------------------------------------------


def breaker_figures(quick: bool) -> dict[str, Any] | None:
    """The last JSON line of ``bench/breaker.py`` (healthy/open ns per decision)."""
    args = [PYTHON, str(ROOT / "bench" / "breaker.py"), *(["--quick"] if quick else [])]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        note(f"bench/breaker.py failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        name: {s: figures[s]["typical_ns"] for s in ("healthy", "open")}
        for name, figures in data["breakers"].items()
    }


# -- report ------------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> dict[str, Any]:
    floors: dict[str, Any] = {}
    print()
    print("transport overhead: time per request (medians), ratio (median of adjacent pairs of batches),")
    print("client CPU per request (this process; less disturbed by other load than wall time)")
    rows = []
    for key, label in (("c1", "1 in flight"), ("c8", "8 in flight")):
        o = results["overhead"][key]
        ok = o["ratio"] <= OVERHEAD_FLOOR
        floors[f"overhead_{key}"] = {"value": o["ratio"], "floor": OVERHEAD_FLOOR, "pass": ok}
        rows.append(
            [
                label,
                f"{o['plain_us']:.0f} us",
                f"{o['seawall_us']:.0f} us",
                f"{o['ratio']:.3f}x",
                f"{o['client_cpu_plain_us']:.0f} us",
                f"{o['client_cpu_seawall_us']:.0f} us",
                "PASS" if ok else "FAIL",
            ]
        )
    ip = results["overhead"]["in_process"]
    rows.append(
        [
            "no network",
            f"{ip['plain_us']:.0f} us",
            f"{ip['seawall_us']:.0f} us",
            f"{ip['seawall_us'] / ip['plain_us']:.3f}x",
            "",
            "",
            "",
        ]
    )
    print_table(
        ["", "plain httpx", "seawall", "ratio", "CPU plain", "CPU seawall", f"<= {OVERHEAD_FLOOR}x"], rows
    )
    print(
        f"no network: both on httpx.MockTransport, 1 in flight: the transport's own cost is "
        f"+{ip['seawall_us'] - ip['plain_us']:.0f} us per call"
    )
    print()
    b = results["balancing"]
    print(f"3 instances, one +50 ms, {BALANCE_IN_FLIGHT} calls in flight")
    print_table(
        ["balancer", "mean", "p50", "p99", "to the slow one"],
        [
            [
                name,
                f"{b[name]['mean_ms']:.2f} ms",
                f"{b[name]['p50_ms']:.2f} ms",
                f"{b[name]['p99_ms']:.2f} ms",
                f"{100 * (b[name]['slow_share'] or 0):.1f} %",
            ]
            for name in ("p2c", "round_robin")
        ],
    )
    ok = b["p99_ratio"] >= P2C_FLOOR
    floors["p2c_p99"] = {"value": b["p99_ratio"], "floor": P2C_FLOOR, "pass": ok}
    print(f"p99 round robin / p2c: {b['p99_ratio']:.1f}x (floor {P2C_FLOOR:.0f}x) {'PASS' if ok else 'FAIL'}")
    print()
    f = results["failing"]
    print(f"dependency answering 500 to everything, {f['rate']:.0f} calls/s for {f['seconds']:.0f} s")
    print_table(
        ["client", "calls", "requests that reached it", "per call", "how calls ended"],
        [
            [
                name,
                str(f[name]["calls"]),
                str(f[name]["requests"]),
                f"{f[name]['per_call']:.2f}",
                ", ".join(f"{k} {v}" for k, v in sorted(f[name]["outcomes"].items())),
            ]
            for name in ("seawall", "seawall_no_breaker", "tenacity")
        ],
    )
    ok = f["seawall"]["per_call"] <= FAILING_FLOOR
    floors["failing_per_call"] = {"value": f["seawall"]["per_call"], "floor": FAILING_FLOOR, "pass": ok}
    verdict = "PASS" if ok else "FAIL"
    print(f"seawall requests per call: {f['seawall']['per_call']:.2f} (floor {FAILING_FLOOR}) {verdict}")
    breaker = results.get("breaker")
    if breaker:
        print()
        print("breaker decision, allow + record (bench/breaker.py, typical ns per call)")
        print_table(
            ["breaker", "healthy", "open"],
            [[name, f"{v['healthy']:.0f} ns", f"{v['open']:.0f} ns"] for name, v in breaker.items()],
        )
        worst = max(breaker[n]["healthy"] for n in ("seawall_circuit", "seawall_adaptive") if n in breaker)
        ok = worst <= BREAKER_FLOOR_NS
        floors["breaker_ns"] = {"value": worst, "floor": BREAKER_FLOOR_NS, "pass": ok}
        verdict = "PASS" if ok else "FAIL"
        print(f"seawall breakers, healthy: {worst:.0f} ns (floor {BREAKER_FLOOR_NS:.0f}) {verdict}")
    return floors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (whole script under 60 s)")
    parser.add_argument("--no-breaker", action="store_true", help="skip the bench/breaker.py figures")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and client to CPUs")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    started = time.monotonic()
    info = machine_info()
    pinning = detect_pinning(enabled=not args.no_pin)
    if pinning.client_cpus is not None:
        os.sched_setaffinity(0, {int(pinning.client_cpus)})
    print(f"machine: {describe_machine(info)}")
    print(f"pinning: {pinning.describe()} (this process is the client)")
    results: dict[str, Any] = {}

    def target(name: str, app: str, path: str = "/hello") -> Target:
        return Target(name, f"{APPS}:{app}", name, path=path, expect_json=HELLO if path == "/hello" else None)

    try:
        note("overhead ...")
        with Server(target("fast", "fast"), server="granian", pinning=pinning) as fast:
            results["overhead"] = asyncio.run(overhead(fast.port, settings))
        note("balancing ...")
        with contextlib.ExitStack() as stack:
            servers = [
                stack.enter_context(Server(target(n, app), server="granian", pinning=pinning))
                for n, app in (("fast1", "fast"), ("fast2", "fast"), ("slow", "slow"))
            ]
            ports = [s.port for s in servers]
            results["balancing"] = asyncio.run(balancing(ports, servers[2].port, settings))
        note("failing dependency ...")
        with contextlib.ExitStack() as stack:
            names = ("seawall", "seawall_no_breaker", "tenacity")
            failing_ports = {
                n: stack.enter_context(
                    Server(target(n, "failing", "/hits"), server="granian", pinning=pinning)
                ).port
                for n in names
            }
            results["failing"] = asyncio.run(failing(failing_ports, settings))
    except HarnessError as exc:
        print(f"harness error: {exc}", file=sys.stderr)
        return 1
    if not args.no_breaker:
        note("breaker decision (bench/breaker.py) ...")
        results["breaker"] = breaker_figures(args.quick)
    floors = report(results)
    info["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    elapsed = time.monotonic() - started
    print()
    load = f"{info['loadavg_1m_at_start']} -> {info['loadavg_1m_at_end']}"
    print(f"total time {elapsed:.0f}s, load average {load}")
    versions = {"httpx": httpx.__version__, "tenacity": importlib.metadata.version("tenacity")}
    emit_json(
        {
            "bench": "client",
            "quick": args.quick,
            "machine": {**info, **versions, "pinning": pinning.describe()},
            "settings": {
                "rounds": settings.rounds,
                "requests": settings.requests,
                "balance_requests": settings.balance_requests,
                "balance_in_flight": BALANCE_IN_FLIGHT,
                "failing_s": settings.failing_s,
                "failing_rate": settings.failing_rate,
            },
            **results,
            "floors": floors,
            "elapsed_s": round(elapsed, 1),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
