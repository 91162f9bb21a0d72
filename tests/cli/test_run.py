"""``seawall run`` as a real process: multi-worker metrics, SIGTERM drain, uvicorn, bad config and
flags, a port in use, idle connections."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEAWALL = Path(sys.executable).parent / "seawall"


class Server:
    """One ``seawall run`` process on a loopback port."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self._log = log

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")


def env_without_seawall() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}


@contextlib.contextmanager
def seawall_run(*args: str, port: int, timeout: float = 10.0) -> Iterator[Server]:
    """Start ``seawall run ARGS --port PORT`` from the repo root and wait until /healthz answers."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(SEAWALL), "run", *args, "--port", str(port)],
            cwd=REPO,
            env=env_without_seawall(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: no worker outlives a failed test
        )
        server = Server(process, port, log)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    pytest.fail(f"seawall run exited with {process.returncode}:\n{server.log()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"seawall run not healthy after {timeout}s:\n{server.log()}")
                time.sleep(0.05)
            yield server
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            _kill_group(process.pid)


def _kill_group(pid: int) -> None:
    """SIGKILL whatever is left of the process group ``pid`` leads (orphaned workers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def sample_sum(text: str, name: str, **match: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``match``."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and match.items() <= s.labels.items()
    )


def poll(probe: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.05)
    return probe()


def test_workers_share_request_metrics(free_port: int) -> None:
    """With ``--workers 2``, /metrics (from either worker) counts every worker's requests exactly."""
    n = 400

    async def load(url: str) -> list[int]:
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
        async with httpx.AsyncClient(base_url=url, limits=limits) as client:
            sem = asyncio.Semaphore(8)

            async def one() -> int:
                async with sem:
                    return (await client.get("/hello")).status_code

            return await asyncio.gather(*(one() for _ in range(n)))

    with seawall_run("examples.hello:service", "--workers", "2", port=free_port) as server:
        codes = asyncio.run(load(server.url))
        assert codes == [200] * n

        def total() -> float:
            text = httpx.get(f"{server.url}/metrics", timeout=2).text  # a new connection: any worker
            return sample_sum(text, "seawall_http_server_requests_total", route="/hello", code="200")

        counts: list[float] = []

        def reached() -> bool:
            counts.append(total())
            return counts[-1] == n

        assert poll(reached, timeout=5), counts
        assert [total() for _ in range(4)] == [n] * 4  # stable, whichever worker answers
        assert max(counts) <= n  # never over-counted while snapshots were catching up


def test_sigterm_drains_in_flight_requests(free_port: int) -> None:
    """On SIGTERM /readyz turns 503 NOT_READY, in-flight requests finish with 200, and exit code is 0."""
    concurrent = 10
    with (
        seawall_run(
            "tests.cli.slow_app:service", "--drain-delay", "1", "--grace-period", "10", port=free_port
        ) as server,
        ThreadPoolExecutor(concurrent) as pool,
    ):
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        slow = [pool.submit(httpx.get, f"{server.url}/slow", timeout=15) for _ in range(concurrent)]

        def in_flight() -> bool:
            text = httpx.get(f"{server.url}/metrics").text
            return sample_sum(text, "seawall_http_server_in_flight", route="/slow") == concurrent

        assert poll(in_flight, timeout=5), "the slow requests never got in flight"

        os.kill(server.process.pid, signal.SIGTERM)
        readiness: list[tuple[int, str]] = []
        while not all(f.done() for f in slow):
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{server.url}/readyz", timeout=1)
                readiness.append((r.status_code, r.json()["reason"] if r.status_code != 200 else ""))
            time.sleep(0.05)

        assert [f.result().status_code for f in slow] == [200] * concurrent
        assert readiness, "/readyz was never reachable during the drain delay"
        assert set(readiness) == {(503, "NOT_READY")}
        assert server.process.wait(timeout=10) == 0


def test_uvicorn_serves_hello(free_port: int) -> None:
    """``--server uvicorn`` serves the example with its lifespan run (ready)."""
    with seawall_run("examples.hello:service", "--server", "uvicorn", port=free_port) as server:
        hello = httpx.get(f"{server.url}/hello")
        ready = httpx.get(f"{server.url}/readyz")
    assert (hello.status_code, hello.json()) == (200, {"message": "hello"})
    assert ready.status_code == 200


def test_bad_config_exits_2_naming_the_field(tmp_path: Path) -> None:
    """``seawall run --config bad.yaml`` exits 2 before serving and prints the bad field's path."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  port: eighty\n")
    result = subprocess.run(
        [str(SEAWALL), "run", "--config", str(bad), "examples.hello:service"],
        cwd=REPO,
        env=env_without_seawall(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "$.server.port" in result.stderr
    assert "invalid configuration" in result.stderr


def test_unknown_server_exits_2(tmp_path: Path) -> None:
    """``--server`` other than granian or uvicorn is refused with exit code 2."""
    result = subprocess.run(
        [str(SEAWALL), "run", "--server", "gunicorn", "examples.hello:service"],
        cwd=tmp_path,
        env=env_without_seawall(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "granian or uvicorn" in result.stderr


def run_to_exit(*args: str, cwd: Path = REPO, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``seawall ARGS`` to completion and capture its output (fail if it is still running
    after ``timeout``, e.g. serving when it should have refused to start)."""
    command = [str(SEAWALL), *args]
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env_without_seawall(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            stdout, stderr = process.communicate()
            pytest.fail(f"seawall {' '.join(args)} still running after {timeout}s:\n{stdout}{stderr}")
        finally:
            _kill_group(process.pid)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--port", "99999"], "--port"),
        (["--port", "-1"], "--port"),
        (["--host", "not a host"], "--host"),
        (["--host", "no-such-host.invalid"], "no-such-host.invalid"),
        (["--workers", "0"], "--workers"),
        (["--workers", "-1"], "--workers"),
        (["--drain-delay", "-1"], "--drain-delay"),
        (["--grace-period", "-0.5"], "--grace-period"),
        (["--grace-period", "nan"], "--grace-period"),
        (["--header-timeout", "0"], "--header-timeout"),
        (["--backlog", "0"], "--backlog"),
        (["--backpressure", "0"], "--backpressure"),
    ],
)
def test_bad_flag_exits_2_with_one_line(args: list[str], flag: str) -> None:
    """An invalid flag value is refused before serving: exit 2, one line naming it, no traceback."""
    result = run_to_exit("run", "examples.hello:service", *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert flag in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_config_value_names_the_config_key(tmp_path: Path) -> None:
    """A bad value that comes from the config file is named by its key, not by a flag."""
    cfg = tmp_path / "seawall.yaml"
    cfg.write_text("server:\n  port: 0\n")
    result = run_to_exit("run", "--config", str(cfg), "examples.hello:service", timeout=15)
    assert result.returncode == 2
    assert "server.port" in result.stderr
    assert "Traceback" not in result.stderr


def test_second_server_on_a_port_in_use_is_refused(free_port: int) -> None:
    """A second ``seawall run`` on a port already served exits 2 with "address in use"."""
    with seawall_run("examples.hello:service", port=free_port) as first:
        result = run_to_exit("run", "examples.hello:service", "--port", str(free_port))
        assert result.returncode == 2
        assert "address in use" in result.stderr
        assert "Traceback" not in result.stderr
        assert httpx.get(f"{first.url}/hello").status_code == 200  # the first one is untouched


def test_restart_on_the_same_port_right_away(free_port: int) -> None:
    """A server stopped with open keep-alive connections (left in TIME_WAIT) does not block a restart."""
    with httpx.Client() as client:
        with seawall_run("examples.hello:service", port=free_port) as first:
            assert client.get(f"{first.url}/hello").status_code == 200  # kept alive, server closes it
        with seawall_run("examples.hello:service", port=free_port) as second:
            assert httpx.get(f"{second.url}/hello").status_code == 200


def test_port_held_by_another_program_is_refused(free_port: int) -> None:
    """A port some other program listens on (no SO_REUSEPORT) is refused the same way."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", free_port))
        other.listen()
        result = run_to_exit("run", "examples.hello:service", "--port", str(free_port))
    assert result.returncode == 2
    assert "address in use" in result.stderr


def test_reuse_port_shares_the_port_on_request(free_port: int) -> None:
    """With ``--reuse-port`` a second server starts on the same port and serves."""
    with (
        seawall_run("examples.hello:service", port=free_port),
        seawall_run("examples.hello:service", "--reuse-port", port=free_port) as second,
    ):
        assert second.process.poll() is None
        assert httpx.get(f"{second.url}/hello").status_code == 200


def test_sigterm_spares_a_handlers_child_process(free_port: int) -> None:
    """The drain signal reaches only the workers: a subprocess a handler waits on finishes normally."""
    with (
        seawall_run(
            "tests.cli.child_app:service", "--drain-delay", "1", "--grace-period", "10", port=free_port
        ) as server,
        ThreadPoolExecutor(1) as pool,
    ):
        pending = pool.submit(httpx.get, f"{server.url}/child", timeout=15)

        def in_flight() -> bool:
            text = httpx.get(f"{server.url}/metrics").text
            return sample_sum(text, "seawall_http_server_in_flight", route="/child") == 1

        assert poll(in_flight, timeout=5)
        time.sleep(0.2)  # the handler has started `sleep 2`
        os.kill(server.process.pid, signal.SIGTERM)
        answer = pending.result()
        assert (answer.status_code, answer.json()) == (200, {"returncode": 0})
        assert server.process.wait(timeout=15) == 0


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} file descriptors, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (a non-blocking socket that sent nothing)."""
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_idle_connections_neither_block_nor_linger(free_port: int) -> None:
    """2,000 connections that send nothing: /healthz and /hello still answer within 100 ms, and
    the idle ones are closed once the header timeout (1 s here) passes."""
    idle_count = 2_000
    _raise_fd_limit(idle_count + 500)
    with seawall_run("examples.hello:service", "--header-timeout", "1", port=free_port) as server:
        idle: list[socket.socket] = []
        try:
            opened = time.monotonic()
            for _ in range(idle_count):
                sock = socket.create_connection(("127.0.0.1", free_port), timeout=5)
                sock.setblocking(False)  # noqa: FBT003 - the stdlib's signature
                idle.append(sock)
            time.sleep(0.2)  # let the server accept them all
            for path in ("/healthz", "/hello"):
                started = time.monotonic()
                r = httpx.get(f"{server.url}{path}", timeout=2)
                elapsed = time.monotonic() - started
                assert r.status_code == 200, path
                assert elapsed < 0.1, f"{path} took {elapsed:.3f}s with {idle_count} idle connections"
            assert time.monotonic() - opened < 1.0, "too slow to check before the header timeout"
            assert not any(_closed_by_peer(s) for s in idle[:50]), "closed before the header timeout"
            assert poll(lambda: all(_closed_by_peer(s) for s in idle), timeout=3)
            assert httpx.get(f"{server.url}/hello").status_code == 200
        finally:
            for sock in idle:
                sock.close()


@pytest.mark.parametrize(
    ("yaml", "path"),
    [
        ('routes:\n  "GET /nope":\n    max_conns: 3\n', '$.routes["GET /nope"]'),
        ("default:\n  rate_limit: {rate: 5, backend: redis}\n", '$.routes["GET /hello"].rate_limit.backend'),
        ("default:\n  rate_limit: {rate: 5, key: 'fn:nope'}\n", '$.routes["GET /hello"].rate_limit.key'),
        ("default:\n  timeout: .nan\n", "$.default.timeout"),
    ],
)
def test_config_that_does_not_fit_the_service_exits_2_before_any_worker(
    tmp_path: Path, yaml: str, path: str
) -> None:
    """The whole effective config is checked against the service in the parent: one line, exit 2."""
    config = tmp_path / "seawall.yaml"
    config.write_text(yaml)
    result = run_to_exit("run", "--config", str(config), "examples.hello:service")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("invalid configuration:")
    assert f"(at {path})" in lines[0]
    assert "Traceback" not in result.stderr


def test_unloadable_target_exits_2_with_one_line() -> None:
    """A target that cannot be imported is one line and exit 2, not a worker traceback."""
    result = run_to_exit("run", "examples.nope:service")
    assert result.returncode == 2
    assert result.stderr.startswith("cannot load examples.nope:service: ModuleNotFoundError")


def test_sigterm_during_startup_hooks_drains_instead_of_killing_the_worker(
    tmp_path: Path, free_port: int
) -> None:
    """SIGTERM while a startup hook runs: the drain handler is already installed, exit 0, no crash."""
    marker = tmp_path / "started"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [
                *[str(SEAWALL), "run", "tests.cli.slow_start_app:service", "--port", str(free_port)],
                *["--drain-delay", "0.2", "--grace-period", "5"],
            ],
            cwd=REPO,
            env={**env_without_seawall(), "STARTUP_MARKER": str(marker)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            assert poll(marker.exists, timeout=15), "the startup hook never ran"
            os.kill(process.pid, signal.SIGTERM)
            code = process.wait(timeout=20)
        finally:
            _kill_group(process.pid)
        log.seek(0)
        output = log.read().decode(errors="replace")
    assert code == 0, output
    assert "Unexpected exit" not in output
