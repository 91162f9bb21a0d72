"""Three OS processes sharing 1,000/s through lease mode admit rate x T + burst (±3%), while
making far fewer than one Redis round trip per decision.

Each process runs a small script: four coroutines decide through ``RedisLeaseBucket.try_acquire``
about every millisecond each (a few thousand decisions/s per process, several times its share)
between a common start and end instant, then print what they admitted and how many lease requests
they sent. The run really lasts 10 s (``SEAWALL_LEASE_SECONDS`` changes it for a quick local run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

if str(Path(__file__).resolve().parents[2]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.servers import RedisServer, start_redis

PROCESSES = 3
RATE = 1000.0
BURST = 100
DURATION = float(os.environ.get("SEAWALL_LEASE_SECONDS", "10"))

# Runs in each child: argv = host, port, start (time.time()), duration, rate, burst, replicas.
_CHILD = """
import asyncio, json, sys, time
import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from seawall.limit._redis_lease import RedisLeaseBucket

host, port, start, duration, rate, burst, replicas = sys.argv[1:]
start, duration = float(start), float(duration)

async def main():
    client = aredis.Redis(host=host, port=int(port), retry=Retry(NoBackoff(), 0))
    bucket = RedisLeaseBucket(client=client, key="lease", rate=float(rate), burst=int(burst),
                              replicas=int(replicas))
    ready = await bucket.prepare()
    end = start + duration
    while time.time() < start:
        await asyncio.sleep(min(0.001, start - time.time()))
    admitted = 0
    async def worker():
        nonlocal admitted
        while time.time() < end:
            if await bucket.try_acquire():
                admitted += 1
            await asyncio.sleep(0.001)  # a request's own work
    await asyncio.gather(*(worker() for _ in range(4)))
    stats = bucket.statistics()
    await bucket.aclose()
    await client.aclose()
    print(json.dumps({"ready": ready, "admitted": admitted, "decisions": stats.admitted + stats.rejected,
                      "round_trips": stats.round_trips, "fallbacks": stats.fallbacks,
                      "timeouts": stats.timeouts, "stalls": stats.stalls}))

asyncio.run(main())
"""


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, for one test."""
    with start_redis() as server:
        yield server


@pytest.mark.integration
def test_three_processes_share_one_rate_through_leases(redis_server: RedisServer) -> None:
    """3 processes x ~3,000 decisions/s for 10 s admit 1,000/s x 10 s + 100 (±3%) through leases,
    at <= 0.1 Redis round trips per decision (INFO commandstats)."""
    start = time.time() + 2.0  # every child has imported, connected and prepared by then
    args = [redis_server.host, str(redis_server.port), repr(start), repr(DURATION), repr(RATE), str(BURST)]
    command = [sys.executable, "-c", _CHILD, *args, str(PROCESSES)]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(PROCESSES)
    ]
    results = []
    for child in children:
        out, err = child.communicate(timeout=DURATION + 30)
        assert child.returncode == 0, err.decode()
        results.append(json.loads(out))
    stats = redis_server.call("INFO", "commandstats")
    evalsha = int(stats.split("cmdstat_evalsha:calls=")[1].split(",")[0])
    admitted = sum(r["admitted"] for r in results)
    decisions = sum(r["decisions"] for r in results)
    expected = RATE * DURATION + BURST
    report = (
        f"admitted {admitted}, expected {expected:.0f} ±3%; {evalsha} EVALSHA for {decisions} decisions"
        f" ({evalsha / decisions:.4f} per decision); per process {results}"
    )
    print(report)  # shown with -rA: how close the run came
    assert all(r["ready"] for r in results), report
    assert all(r["fallbacks"] == 0 for r in results), report
    assert all(r["decisions"] >= 1000 * DURATION for r in results), report  # >= 1,000 decisions/s each
    assert all(r["decisions"] > r["admitted"] > 0 for r in results), report  # all took part, all limited
    assert abs(admitted - expected) <= 0.03 * expected, report
    assert evalsha / decisions <= 0.1, report
