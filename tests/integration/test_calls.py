"""Outbound calls between real ``seawall run`` processes on loopback: loops, deadlines, breakers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.client.procs import Running, seawall_run, upstream, write_config
from tests.servers import free_port

pytestmark = pytest.mark.integration

APPS = "tests.client.call_apps"


@contextlib.contextmanager
def chain(tmp_path: Path, *, loop: bool, **settings: object) -> Iterator[tuple[Running, Running, Running]]:
    """Services a -> b -> c (-> a when ``loop``), each calling the next as dependency ``next``."""
    pa, pb, pc = free_port(), free_port(), free_port()
    ca = write_config(tmp_path, "a", {"next": upstream(pb, service="b", **settings)})
    cb = write_config(tmp_path, "b", {"next": upstream(pc, service="c", **settings)})
    cc = write_config(tmp_path, "c", {"next": upstream(pa, service="a", **settings)} if loop else {})
    with (
        seawall_run(f"{APPS}:a", pa, ca) as a,
        seawall_run(f"{APPS}:b", pb, cb) as b,
        seawall_run(f"{APPS}:c", pc, cc) as c,
    ):
        yield a, b, c


def runs(server: Running) -> int:
    return int(httpx.get(f"{server.url}/runs", timeout=5).json()["runs"])


def metric(server: Running, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


def test_loop_of_three_services_ends_after_one_lap(tmp_path: Path) -> None:
    """a -> b -> c -> a: a refuses its second visit with 508, which comes back to the edge at once;
    each service ran once."""
    with chain(tmp_path, loop=True) as (a, b, c):
        start = time.monotonic()
        r = httpx.get(f"{a.url}/hop", timeout=10)
        elapsed = time.monotonic() - start
        assert [runs(s) for s in (a, b, c)] == [1, 1, 1]
    assert r.status_code == 508
    looped = r.json()["next"]["next"]["next"]
    assert looped["reason"] == "LOOP_DETECTED"
    assert "a is already in the call chain a,b,c" in looped["message"]
    assert elapsed < 2.0


def test_deadline_shrinks_hop_by_hop(tmp_path: Path) -> None:
    """A 2 s deadline set at the edge reaches b and c shortened by what each hop used (50 ms sleeps)."""
    with chain(tmp_path, loop=False) as (a, _, _):
        r = httpx.get(f"{a.url}/hop?sleep=50", headers={"x-seawall-deadline-ms": "2000"}, timeout=10)
    assert r.status_code == 200
    body = r.json()
    at_a = float(body["deadline_ms"])
    at_b = float(body["next"]["deadline_ms"])
    at_c = float(body["next"]["next"]["deadline_ms"])
    assert at_a == 2000
    assert 0 < at_c <= at_b - 50 <= at_a - 100


def test_spent_deadline_runs_nothing_further(tmp_path: Path) -> None:
    """b spends its whole deadline; its call to c is not sent, b answers 504 and c never runs. A
    request reaching c with a spent deadline is answered 504 without running either. (A 200 ms
    margin leaves a the time to relay b's answer before its own deadline, on a busy machine too.)"""
    with chain(tmp_path, loop=False, deadline_margin=0.2) as (a, b, c):
        r = httpx.get(f"{a.url}/hop?spend=b", headers={"x-seawall-deadline-ms": "1000"}, timeout=10)
        direct = httpx.get(f"{c.url}/hop", headers={"x-seawall-deadline-ms": "0"}, timeout=10)
        assert [runs(s) for s in (a, b, c)] == [1, 1, 0]
    assert r.status_code == 504
    assert r.json()["next"]["reason"] == "DEADLINE_EXCEEDED"
    assert direct.status_code == 504
    assert direct.json()["reason"] == "DEADLINE_EXCEEDED"


def test_breaker_opens_degrades_and_closes_through_half_open(tmp_path: Path) -> None:
    """back fails: after 5 failed calls front's breaker opens and its route answers the fallback
    without calling back; once back recovers and the open wait ends, probes close the breaker."""
    pf, pb = free_port(), free_port()
    breaker = {
        "kind": "circuit",
        "minimum_calls": 5,
        "failure_rate_threshold": 50,
        "wait_duration_in_open": 1.0,
        "permitted_calls_in_half_open": 2,
    }
    config = write_config(tmp_path, "front", {"back": upstream(pb, breaker=breaker, retries=None)})
    with seawall_run(f"{APPS}:back", pb) as back, seawall_run(f"{APPS}:front", pf, config) as front:
        httpx.post(f"{back.url}/mode?fail=1", timeout=5)
        failed = [httpx.get(f"{front.url}/call", timeout=5).status_code for _ in range(5)]
        hits = httpx.get(f"{back.url}/hits", timeout=5).json()["hits"]
        degraded = [httpx.get(f"{front.url}/call", timeout=5) for _ in range(5)]
        assert httpx.get(f"{back.url}/hits", timeout=5).json()["hits"] == hits  # nothing reached back
        assert metric(front, "seawall_http_client_breaker_state", dependency="back", state="open") == 1
        httpx.post(f"{back.url}/mode?fail=0", timeout=5)
        time.sleep(1.2)
        recovered = [httpx.get(f"{front.url}/call", timeout=5) for _ in range(4)]
        state = metric(front, "seawall_http_client_breaker_state", dependency="back", state="closed")
        transitions = metric(front, "seawall_http_client_breaker_transitions_total", dependency="back")
    assert failed == [500] * 5
    assert all(r.json() == {"fallback": "CIRCUIT_OPEN"} for r in degraded)
    assert all(r.headers["x-seawall-fallback"] == "CIRCUIT_OPEN" for r in degraded)
    assert [r.json() for r in recovered] == [{"ok": True}] * 4
    assert state == 1
    assert transitions == 3  # closed -> open -> half_open -> closed
