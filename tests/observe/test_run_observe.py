"""Observability of a real ``seawall run`` process: JSON logs with trace ids, the slow-request
log, trace ids in error bodies, and ``seawall debug profile`` fetching a flame graph."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from typer.testing import CliRunner

from seawall.cli import app

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEAWALL = Path(sys.executable).parent / "seawall"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@contextlib.contextmanager
def served(port: int, config: Path, *args: str) -> Iterator[tuple[str, IO[bytes]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [
                str(SEAWALL),
                "run",
                "tests.observe.debug_app:service",
                "--port",
                str(port),
                "--config",
                str(config),
                *args,
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                assert process.poll() is None, _read(log)
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, _read(log)
                time.sleep(0.05)
            yield url, log
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _read(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")


def json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                out.append(record)
    return out


def test_json_logs_trace_ids_and_slow_requests(free_port: int, tmp_path: Path) -> None:
    """``--log-format json`` with tracing and a slow-request threshold configured: the 500's body
    and its ERROR record carry the caller's trace id, the secret in the message is scrubbed, and
    the slow request is logged with its route."""
    config = tmp_path / "seawall.yaml"
    config.write_text("tracing:\n  sample_ratio: 1.0\nlogging:\n  slow_request_threshold: 0.1\n")
    with served(free_port, config, "--log-format", "json") as (url, log):
        traceparent = f"00-{TRACE}-00f067aa0ba902b7-01"
        r = httpx.get(f"{url}/fail", headers={"traceparent": traceparent}, timeout=5)
        assert r.status_code == 500
        assert r.json()["trace_id"] == TRACE
        assert httpx.get(f"{url}/slow", timeout=5).status_code == 200
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and '"seawall.slow"' not in _read(log):
            time.sleep(0.05)
        text = _read(log)
    records = json_lines(text)
    error = next(r for r in records if r.get("level") == "ERROR")
    assert error["trace_id"] == TRACE
    assert "RuntimeError" in error["exception"]
    assert "sk-live-123456" not in text
    slow = next(r for r in records if r.get("logger") == "seawall.slow")
    assert slow["route"] == "/slow"
    assert slow["duration_ms"] >= 100


def test_debug_profile_cli_saves_a_flame_graph(free_port: int, tmp_path: Path) -> None:
    """``seawall debug profile URL --seconds 1 -o out.html`` saves pyinstrument's HTML naming the
    function the busy route burns CPU in."""
    config = tmp_path / "seawall.yaml"
    config.write_text("{}\n")
    with served(free_port, config) as (url, _):
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=url, timeout=5) as client:
                while not stop.is_set():
                    client.get("/burn")

        thread = threading.Thread(target=load, daemon=True)
        thread.start()
        try:
            out = tmp_path / "profile.html"
            result = CliRunner().invoke(app, ["debug", "profile", url, "--seconds", "1", "-o", str(out)])
        finally:
            stop.set()
            thread.join(timeout=10)
    assert result.exit_code == 0, result.output
    assert "seawall_it_burns_cpu_here" in out.read_text()


def test_debug_profile_cli_reports_a_refusal(free_port: int, tmp_path: Path) -> None:
    """With an admin token configured and none given, the CLI exits 1 and shows the 401 body."""
    config = tmp_path / "seawall.yaml"
    config.write_text("admin:\n  token: the-admin-token\n")
    with served(free_port, config) as (url, _):
        result = CliRunner().invoke(
            app, ["debug", "profile", url, "--seconds", "0.1", "-o", str(tmp_path / "p.json")]
        )
        assert result.exit_code == 1
        assert "UNAUTHENTICATED" in result.output
        ok = CliRunner().invoke(
            app,
            [
                "debug",
                "profile",
                url,
                "--seconds",
                "0.1",
                "--token",
                "the-admin-token",
                "-o",
                str(tmp_path / "p.json"),
            ],
        )
    assert ok.exit_code == 0, ok.output
    assert "shared" in json.loads((tmp_path / "p.json").read_text())
