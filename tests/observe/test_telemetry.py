"""Tests for a service's standing telemetry: runtime metrics wired to its lifecycle, build info,
and routes without metrics having no series at all."""

from __future__ import annotations

import gc
import platform
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tests.observe.runtime_support import lbl, scrape

import seawall
from seawall import BARE, Policy, RateLimitPolicy, Service
from seawall.observe import BuildInfoCollector, RuntimeMonitor


def client(app: Service, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def series(text: str) -> dict[str, dict[frozenset[tuple[str, str]], float]]:
    out: dict[str, dict[frozenset[tuple[str, str]], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return out


def routes_in(text: str) -> set[str]:
    """Every ``route`` label value in an exposition."""
    return {
        s.labels["route"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if "route" in s.labels
    }


# --- BARE and metrics: false --------------------------------------------------------------------


async def test_bare_and_metrics_off_routes_have_no_series() -> None:
    """After traffic, a BARE route and a ``metrics: false`` route (with a limiter) appear in no
    family of /metrics, while a metered route does."""
    svc = Service("quiet")

    @svc.get("/bare", policy=BARE)
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    @svc.get("/off", policy=Policy(metrics=False, rate_limit=RateLimitPolicy(rate=100)))
    async def off() -> dict[str, bool]:
        return {"ok": True}

    @svc.get("/on", policy=Policy(rate_limit=RateLimitPolicy(rate=100)))
    async def on() -> dict[str, bool]:
        return {"ok": True}

    async with client(svc) as c:
        for path in ("/bare", "/off", "/on"):
            assert (await c.get(path)).status_code == 200
        text = (await c.get("/metrics")).text
    assert routes_in(text) == {"/on"}
    assert series(text)["seawall_token_bucket_admitted_total"] == {
        lbl(route="/on", method="GET", check="rate_limit"): 1.0
    }


async def test_turning_metrics_off_at_run_time_removes_the_series() -> None:
    """A rules change to ``metrics: false`` removes the route's series at the next scrape."""
    svc = Service("toggle")

    @svc.get("/x")
    async def x() -> dict[str, bool]:
        return {"ok": True}

    async with client(svc) as c:
        await c.get("/x")
        assert "/x" in routes_in((await c.get("/metrics")).text)
        svc.recompile({"GET /x": {"metrics": False}})
        assert "/x" not in routes_in((await c.get("/metrics")).text)


async def test_unmatched_requests_are_still_counted() -> None:
    """404s keep their fixed ``<unmatched>`` route label (the filter lets it through)."""
    svc = Service("nf")
    async with client(svc) as c:
        assert (await c.get("/nowhere")).status_code == 404
        text = (await c.get("/metrics")).text
    total = series(text)["seawall_http_server_requests_total"]
    assert total == {lbl(route="<unmatched>", method="GET", code="404"): 1.0}


# --- runtime metrics on a service ---------------------------------------------------------------


async def test_every_service_exports_runtime_metrics_with_worker_label() -> None:
    """A started service's /metrics has GC, loop-lag, thread, task and process families for
    worker "0", and the container limits once."""
    svc = Service("rt")
    await svc.startup()
    try:
        gc.collect()
        async with client(svc) as c:
            s = series((await c.get("/metrics")).text)
    finally:
        await svc.shutdown()
    w = lbl(worker="0")
    assert s["seawall_gc_collections_total"][lbl(worker="0", generation="2")] >= 1
    assert s["seawall_python_threads"][w] >= 1
    assert s["seawall_asyncio_tasks"][w] >= 1
    assert w in s["seawall_event_loop_lag_seconds_count"]
    assert s["seawall_process_resident_memory_bytes"][w] > 0
    assert list(s["seawall_memory_limit_bytes"]) == [frozenset()]
    assert list(s["seawall_cpu_limit_cores"]) == [frozenset()]


async def test_shutdown_unhooks_gc_and_stops_the_sampler() -> None:
    """After shutdown the GC callback is gone and the lag sampler has stopped."""
    svc = Service("rt")
    await svc.startup()
    assert svc.runtime.gc.installed
    assert svc.runtime.loop_lag.running
    await svc.shutdown()
    assert not svc.runtime.gc.installed
    assert not svc.runtime.loop_lag.running


async def test_failed_startup_hook_undoes_the_runtime_hooks() -> None:
    """A startup hook that raises leaves no GC callback behind."""
    svc = Service("rt")

    @svc.on_startup
    def boom() -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        await svc.startup()
    assert not svc.runtime.gc.installed
    assert not svc.runtime.loop_lag.running


async def test_workers_claim_distinct_indexes_in_the_metrics_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two services started with one $SEAWALL_METRICS_DIR (two workers) claim workers 0 and 1,
    and either one's scrape shows both; after one stops, only the other remains."""
    monkeypatch.setenv("SEAWALL_METRICS_DIR", str(tmp_path / "m"))
    a, b = Service("w"), Service("w")
    await a.startup()
    await b.startup()
    try:
        assert (a.runtime.worker, b.runtime.worker) == (0, 1)
        b.runtime.flush()
        both = scrape(a.runtime.collector)["seawall_python_threads"]
        assert set(both) == {lbl(worker="0"), lbl(worker="1")}
    finally:
        await b.shutdown()
    try:
        assert set(scrape(a.runtime.collector)["seawall_python_threads"]) == {lbl(worker="0")}
    finally:
        await a.shutdown()


async def test_runtime_monitor_releases_its_index(tmp_path: Path) -> None:
    """A stopped monitor's worker index is claimed by the next one."""
    first = RuntimeMonitor(metrics_dir=tmp_path)
    first.start()
    await first.stop()
    second = RuntimeMonitor(metrics_dir=tmp_path)
    second.start()
    try:
        assert second.worker == 0
    finally:
        await second.stop()


# --- build info ---------------------------------------------------------------------------------


def test_build_info_names_seawall_python_and_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """``seawall_build_info`` is 1 with seawall's version, this Python and the named server."""
    monkeypatch.setenv("SEAWALL_ASGI_SERVER", "granian")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BuildInfoCollector())
    s = series(generate_latest(registry).decode())
    labels = lbl(version=seawall.__version__, python=platform.python_version(), server="granian")
    assert s["seawall_build_info"] == {labels: 1.0}


async def test_service_exports_build_info() -> None:
    """A service's /metrics carries ``seawall_build_info``."""
    async with client(Service("b")) as c:
        s = series((await c.get("/metrics")).text)
    ((labels, value),) = s["seawall_build_info"].items()
    assert value == 1.0
    assert dict(labels)["version"] == seawall.__version__
