"""seawall under a real Prometheus and Alertmanager: scraped totals, every generated dashboard and
alert expression evaluated, and a 5xx burst paging through Alertmanager to a webhook.

Prometheus scrapes ``seawall run tests.integration.prom_app:service --workers 2`` every second and
evaluates the generated rules (a test copy with ``for: 0s``) every second; Alertmanager groups for
a second and posts to a webhook receiver run by the test. Everything binds to loopback ports
picked at start, in temporary directories removed afterwards. Without the binaries the tests skip
locally and fail under CI (see ``tests/servers.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml
from tests.servers import ServerProcess, free_port

from seawall.cli._alerts import alert_rules, alertmanager_config, rules_document
from seawall.cli._grafana import dashboard, panel_queries

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEAWALL = Path(sys.executable).parent / "seawall"
JOB = "seawall-it"


# --- the processes ------------------------------------------------------------------------------


def ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class Alertmanager(ServerProcess):
    """``prometheus-alertmanager`` (Debian's name) without clustering, on loopback."""

    binary: ClassVar[str] = "prometheus-alertmanager"

    def __init__(self, webhook_url: str) -> None:
        super().__init__()
        config = alertmanager_config(webhook_url=webhook_url)
        # the generated skeleton, with test timings: group for 1 s, resend quickly
        config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1m")
        config["route"]["routes"][0]["repeat_interval"] = "1m"
        (self.workdir / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            self.path,
            f"--config.file={self.workdir / 'alertmanager.yml'}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address={self.host}:{self.port}",
            "--cluster.listen-address=",
        ]

    def is_ready(self) -> bool:
        return ready(f"{self.url}/-/ready")


class Prometheus(ServerProcess):
    """``prometheus`` scraping one target every second and evaluating the generated rules."""

    binary: ClassVar[str] = "prometheus"

    def __init__(self, target: str, alertmanager: str) -> None:
        super().__init__(start_timeout=20.0)
        rules = rules_document(alert_rules(service=JOB))
        for rule in rules["groups"][0]["rules"]:
            rule["for"] = "0s"  # test copy: fire at the first evaluation that holds
        (self.workdir / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(self.workdir / "rules.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
        }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            self.path,
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.host}:{self.port}",
        ]

    def is_ready(self) -> bool:
        return ready(f"{self.url}/-/ready")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Evaluate ``expr`` now; fails the test on any error Prometheus reports."""
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        body = r.json()
        assert r.status_code == 200, (expr, body)
        assert body["status"] == "success", (expr, body)
        assert not body.get("warnings"), (expr, body["warnings"])
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


class Webhook:
    """An HTTP server on loopback recording the JSON bodies Alertmanager posts."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                received.append(json.loads(body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def alerts(self, name: str, status: str = "firing") -> list[dict[str, Any]]:
        return [
            a
            for message in list(self.received)
            for a in message["alerts"]
            if a["labels"]["alertname"] == name and a["status"] == status
        ]


@contextlib.contextmanager
def seawall_run(module: str, port: int, workers: int = 2) -> Iterator[str]:
    """``seawall run MODULE --workers N`` from the repo root until /healthz answers; yields its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(SEAWALL), "run", module, "--workers", str(workers), "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

        def output() -> str:
            log.seek(0)
            return log.read().decode(errors="replace")

        try:
            deadline = time.monotonic() + 20
            while True:
                if process.poll() is not None:
                    pytest.fail(f"seawall run exited with {process.returncode}:\n{output()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"seawall run not healthy after 20 s:\n{output()}")
                time.sleep(0.05)
            yield url
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- fixtures (one stack for the module: starting Prometheus is the slow part) -------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, Prometheus, Webhook]]:
    webhook = Webhook()
    webhook.thread.start()
    port = free_port()
    try:
        with (
            seawall_run("tests.integration.prom_app:service", port) as url,
            Alertmanager(webhook.url) as alertmanager,
            Prometheus(f"127.0.0.1:{port}", f"127.0.0.1:{alertmanager.port}") as prometheus,
        ):
            yield url, prometheus, webhook
    finally:
        webhook.server.shutdown()
        webhook.server.server_close()


def wait_for(probe: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


async def _drive(
    url: str, plan: list[tuple[str, int]], *, concurrency: int = 8, fresh: bool = False
) -> list[int]:
    """Send ``n`` GETs to each path (``fresh``: a new connection per request, so both workers serve)."""

    async def one(client: httpx.AsyncClient, path: str) -> int:
        return (await client.get(path)).status_code

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0 if fresh else concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        sem = asyncio.Semaphore(concurrency)

        async def bounded(path: str) -> int:
            async with sem:
                return await one(client, path)

        return await asyncio.gather(*(bounded(p) for p, n in plan for _ in range(n)))


def drive(url: str, plan: list[tuple[str, int]], **kwargs: Any) -> list[int]:
    return asyncio.run(_drive(url, plan, **kwargs))


# --- the tests (in order: the alert test needs a service with no 5xx yet) -----------------------


def test_5xx_burst_fires_the_alert_through_alertmanager(stack: tuple[str, Prometheus, Webhook]) -> None:
    """Healthy traffic fires nothing; a few seconds of 500s make SeawallHigh5xxRatio fire in
    Prometheus and Alertmanager deliver it to the webhook with its runbook."""
    url, prometheus, webhook = stack
    drive(url, [("/ok", 100)])
    wait_for(
        lambda: prometheus.value(f'sum(seawall_http_server_requests_total{{job="{JOB}"}})') is not None,
        15,
        "the first scrape",
    )
    time.sleep(2)  # a few evaluations of healthy traffic
    assert prometheus.query('ALERTS{alertname="SeawallHigh5xxRatio"}') == []
    assert webhook.alerts("SeawallHigh5xxRatio") == []
    end = time.monotonic() + 3.5  # spread over several scrapes, so rate() sees the counter grow
    while time.monotonic() < end:
        codes = drive(url, [("/fail", 20), ("/ok", 20)])
        assert sorted(set(codes)) == [200, 500]
        time.sleep(0.25)
    wait_for(lambda: bool(webhook.alerts("SeawallHigh5xxRatio")), 30, "the webhook to receive the alert")
    alert = webhook.alerts("SeawallHigh5xxRatio")[0]
    assert alert["labels"]["job"] == JOB
    assert alert["labels"]["severity"] == "page"
    assert alert["annotations"]["runbook"].startswith("1. ")
    firing = prometheus.query('ALERTS{alertname="SeawallHigh5xxRatio", alertstate="firing"}')
    assert firing


def test_request_totals_in_prometheus_equal_requests_sent(stack: tuple[str, Prometheus, Webhook]) -> None:
    """500 requests over fresh connections (both workers serve) add up to exactly 500 in
    Prometheus, and the runtime families carry one series per worker."""
    url, prometheus, _ = stack
    n = 500
    assert drive(url, [("/count", n)], fresh=True) == [200] * n
    expr = f'sum(seawall_http_server_requests_total{{job="{JOB}", route="/count"}})'
    wait_for(lambda: prometheus.value(expr) == n, 15, f"{expr} == {n} (last: {prometheus.value(expr)})")
    workers = prometheus.query(f'count by (worker) (seawall_python_threads{{job="{JOB}"}})')
    assert sorted(r["metric"]["worker"] for r in workers) == ["0", "1"]
    per_worker = prometheus.query(f'seawall_process_cpu_seconds_total{{job="{JOB}"}}')
    assert len(per_worker) == 2


def test_every_dashboard_and_rule_expression_evaluates_and_returns_series(
    stack: tuple[str, Prometheus, Webhook],
) -> None:
    """After traffic of every kind (ok, 4xx, 5xx, limited, shed, breaker, deadline, slow), every
    PromQL query of the generated dashboard and every alert's signal returns series, and every
    rule expression evaluates without error. The dependency panels read the outbound client's
    families: they must evaluate, and return series once a service exports those families."""
    url, prometheus, _ = stack
    plan = [("/ok", 40), ("/items/x", 5), ("/fail", 5), ("/limited", 5), ("/breaker", 3), ("/deadline", 2)]
    for _ in range(3):  # over several scrapes, so rates see counters grow
        codes = drive(url, plan)
        codes += drive(url, [("/shed", 12)], concurrency=12)
        codes += drive(url, [("/slow", 2)])
        assert {200, 400, 429, 500, 503, 504} <= set(codes)
        time.sleep(1.1)
    wait_for(
        lambda: (
            prometheus.value(f'sum(seawall_http_server_rejected_total{{job="{JOB}", reason="OVERLOADED"}})')
            is not None
        ),
        15,
        "shed requests to be scraped",
    )
    time.sleep(2.5)  # at least two more scrapes: every rate() has two samples
    exported = httpx.get(f"{url}/metrics", timeout=5).text
    client_families = "seawall_http_client_" in exported

    empty = []
    for title, expr in panel_queries(dashboard(JOB), service=JOB, window="1m"):
        result = prometheus.query(expr)
        if not result and ("seawall_http_client_" not in expr or client_families):
            empty.append((title, expr))
    for rule in alert_rules(service=JOB):
        prometheus.query(rule.expr)
        for part in rule.signals:
            if not prometheus.query(part):
                empty.append((rule.name, part))
    assert empty == []
    # the dashboard's variables: label_values(seawall_build_info, job) and the routes
    series = httpx.get(f"{prometheus.url}/api/v1/series", params={"match[]": "seawall_build_info"}).json()
    assert {s["job"] for s in series["data"]} == {JOB}
    build = series["data"][0]
    assert build["server"] == "granian"
